import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import { errorBody } from './errors.js';

export interface DashboardPluginOptions {
  /** Where `npm run build:dashboard` wrote the page (`dist/dashboard`). */
  directory: string;
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

// Every asset is Payfold's own; nothing inline, nothing from elsewhere, never inside a frame.
const securityHeaders = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

interface StaticFile {
  body: Buffer;
  contentType: string;
}

const loadBuiltFiles = async (directory: string): Promise<Map<string, StaticFile> | undefined> => {
  try {
    const names = await readdir(directory, { recursive: true, withFileTypes: true });
    const files = new Map<string, StaticFile>();
    for (const entry of names) {
      if (!entry.isFile()) continue;
      const full = path.join(entry.parentPath, entry.name);
      const type = contentTypes[path.extname(entry.name)];
      if (type) files.set(path.relative(directory, full), { body: await readFile(full), contentType: type });
    }
    return files.has('index.html') ? files : undefined;
  } catch {
    return undefined;
  }
};

/**
 * `GET /dashboard`: the admin dashboard, a static page built at install time. It holds no data and
 * no secret: the page asks for the admin token and calls the admin API with it, like any client.
 */
export const dashboardPlugin: FastifyPluginAsync<DashboardPluginOptions> = async (app, { directory }) => {
  const files = await loadBuiltFiles(directory);
  const page = {
    config: {
      doc: {
        summary: 'The admin dashboard (sign in with the admin token)',
        auth: 'none' as const,
        responses: {
          200: { description: 'The page', schema: z.string(), contentType: 'text/html' },
          503: 'The dashboard was not built',
        },
      },
    },
  };
  const sendIndex = async (_request: unknown, reply: FastifyReply) => {
    const index = files?.get('index.html');
    if (!index) {
      return reply
        .status(503)
        .send(errorBody('dashboard_not_built', 'The dashboard is not built: run npm run build:dashboard'));
    }
    return reply
      .headers({ ...securityHeaders, 'cache-control': 'no-cache' })
      .type(index.contentType)
      .send(index.body);
  };
  app.get('/dashboard', page, sendIndex);
  app.get('/dashboard/', page, sendIndex);
  const asset = {
    config: {
      doc: {
        summary: "The dashboard's scripts and styles",
        auth: 'none' as const,
        responses: {
          200: { description: 'The script, style or image', schema: z.string(), contentType: '*/*' },
          404: 'No such file',
        },
      },
    },
  };
  app.get<{ Params: { file: string } }>('/dashboard/assets/:file', asset, async (request, reply) => {
    const file = files?.get(`assets/${request.params.file}`);
    if (!file) return reply.status(404).send(errorBody('not_found', 'Not found'));
    // Asset names carry a hash of their content: a new build has new names.
    return reply
      .headers({ ...securityHeaders, 'cache-control': 'public, max-age=31536000, immutable' })
      .type(file.contentType)
      .send(file.body);
  });
};
