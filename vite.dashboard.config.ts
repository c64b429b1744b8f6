import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// `npm run build:dashboard`: the admin dashboard as static files that `payfold serve` serves at /dashboard.
export default defineConfig({
  root: fileURLToPath(new URL('./src/dashboard/', import.meta.url)),
  base: '/dashboard/',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    // One script and one stylesheet: nothing is inlined, so the page runs under a strict CSP.
    assetsInlineLimit: 0,
  },
});
