// The admin/metrics listener: GET /metrics (Prometheus), GET /status (JSON),
// POST /drain and POST /undrain. Plain node:http, no framework.
//
// There is no authentication: bind it to loopback or a management network. Because a web
// page can make a browser POST to any address (no CORS preflight for a bodiless POST),
// requests that carry an Origin header — which browsers add and curl/Prometheus do not —
// are refused for the state-changing endpoints.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../util/addr.js';

export interface AdminHandlers {
  /** Prometheus text exposition (Registry.render()). */
  metrics(): string | Promise<string>;
  /** Anything JSON-serialisable (bigint is rendered as a string). */
  status(): unknown;
  /** on = true: leave the ring and answer LB probes 503; false: take new keys again. */
  drain(on: boolean): void | Promise<void>;
}

export interface AdminServer {
  /** Stops listening and closes open connections (keep-alive ones included). */
  close(): Promise<void>;
  /** The bound address (the real port when 0 was asked for). */
  address: HostPort;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

interface Route {
  method: 'GET' | 'POST';
  run(h: AdminHandlers, res: ServerResponse): Promise<void>;
}

const ROUTES: Readonly<Record<string, Route>> = {
  '/metrics': {
    method: 'GET',
    async run(h, res) {
      send(res, 200, PROMETHEUS_CONTENT_TYPE, await h.metrics());
    },
  },
  '/status': {
    method: 'GET',
    async run(h, res) {
      const body = JSON.stringify(await h.status(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
      send(res, 200, 'application/json; charset=utf-8', (body ?? 'null') + '\n');
    },
  },
  '/drain': {
    method: 'POST',
    async run(h, res) {
      await h.drain(true);
      send(res, 204);
    },
  },
  '/undrain': {
    method: 'POST',
    async run(h, res) {
      await h.drain(false);
      send(res, 204);
    },
  },
};

/** Listen on hp (port 0 picks a free port). Rejects with the bind error (e.g. EADDRINUSE). */
export function startAdminServer(hp: HostPort, handlers: AdminHandlers): Promise<AdminServer> {
  const server = createServer((req, res) => {
    handle(req, res, handlers).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `error: ${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    });
  });
  // An admin endpoint answers in milliseconds; slow or idle clients are cut off early.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;

  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host: hp.host, port: hp.port, exclusive: true }, () => {
      server.off('error', onError);
      const a = server.address() as AddressInfo;
      let closing: Promise<void> | undefined;
      resolve({
        address: { host: a.address, port: a.port },
        // Idempotent: a second close() waits for the first.
        close: () =>
          (closing ??= new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections();
          })),
      });
    });
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, h: AdminHandlers): Promise<void> {
  // Bodies are never used; read and discard so keep-alive connections stay usable.
  req.resume();
  const path = (req.url ?? '/').split('?', 1)[0];
  const route = Object.prototype.hasOwnProperty.call(ROUTES, path) ? ROUTES[path] : undefined;
  if (route === undefined) {
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    return;
  }
  const method = req.method ?? 'GET';
  // HEAD is GET without a body (RFC 9110 §9.3.2); node omits the body for HEAD itself.
  const ok = method === route.method || (method === 'HEAD' && route.method === 'GET');
  if (!ok) {
    res.setHeader('Allow', route.method === 'GET' ? 'GET, HEAD' : 'POST');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  if (route.method === 'POST' && req.headers.origin !== undefined) {
    send(res, 403, 'text/plain; charset=utf-8', 'cross-origin requests are refused\n');
    return;
  }
  await route.run(h, res);
}

function send(res: ServerResponse, status: number, type?: string, body?: string): void {
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  if (type !== undefined && body !== undefined) {
    res.setHeader('Content-Type', type);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  } else {
    res.end();
  }
}
