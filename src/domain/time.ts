/** The earliest of some times (at least one). */
export const earliest = (times: readonly Date[]): Date =>
  new Date(Math.min(...times.map((time) => time.getTime())));
