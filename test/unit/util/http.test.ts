import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { PROMETHEUS_CONTENT_TYPE, startAdminServer, type AdminServer } from '../../../src/cli/http.js';
import { Registry } from '../../../src/util/metrics.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(srv: AdminServer, method: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: srv.address.host, port: srv.address.port, method, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(3000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('admin server', () => {
  let srv: AdminServer | undefined;
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
  });

  function start(overrides: Partial<Parameters<typeof startAdminServer>[1]> = {}) {
    const drains: boolean[] = [];
    const registry = new Registry({ constLabels: { member: '0' } });
    const c = registry.counterSet('sipfarm_packets_total', 'Packets', 'outcome', ['local', 'relayed']);
    c.v[1] = 5;
    const handlers = {
      metrics: () => registry.render(),
      status: () => ({ member: 0, draining: drains.at(-1) ?? false, big: 2n ** 64n }),
      drain: (on: boolean) => void drains.push(on),
      ...overrides,
    };
    return startAdminServer({ host: '127.0.0.1', port: 0 }, handlers).then((s) => {
      srv = s;
      return { s, drains };
    });
  }

  it('binds an ephemeral port on loopback', async () => {
    const { s } = await start();
    expect(s.address.host).toBe('127.0.0.1');
    expect(s.address.port).toBeGreaterThan(0);
  });

  it('GET /metrics serves the Prometheus text format', async () => {
    const { s } = await start();
    const r = await call(s, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain('# TYPE sipfarm_packets_total counter\n');
    expect(r.body).toContain('sipfarm_packets_total{member="0",outcome="relayed"} 5\n');
    const q = await call(s, 'GET', '/metrics?name[]=x');
    expect(q.status).toBe(200);
    const head = await call(s, 'HEAD', '/metrics');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('GET /status serves JSON', async () => {
    const { s } = await start();
    const r = await call(s, 'GET', '/status');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(r.body)).toEqual({ member: 0, draining: false, big: '18446744073709551616' });
  });

  it('POST /drain and /undrain call the handler and answer 204', async () => {
    const { s, drains } = await start();
    expect((await call(s, 'POST', '/drain')).status).toBe(204);
    expect(JSON.parse((await call(s, 'GET', '/status')).body).draining).toBe(true);
    expect((await call(s, 'POST', '/undrain')).status).toBe(204);
    expect(drains).toEqual([true, false]);
  });

  it('404 for unknown paths, 405 with Allow for wrong methods', async () => {
    const { s, drains } = await start();
    expect((await call(s, 'GET', '/')).status).toBe(404);
    expect((await call(s, 'GET', '/metricsx')).status).toBe(404);
    expect((await call(s, 'GET', '/__proto__')).status).toBe(404);
    const getDrain = await call(s, 'GET', '/drain');
    expect(getDrain.status).toBe(405);
    expect(getDrain.headers.allow).toBe('POST');
    const postMetrics = await call(s, 'POST', '/metrics');
    expect(postMetrics.status).toBe(405);
    expect(postMetrics.headers.allow).toBe('GET, HEAD');
    expect((await call(s, 'DELETE', '/status')).status).toBe(405);
    expect(drains).toEqual([]);
  });

  it('refuses browser (Origin-bearing) POSTs', async () => {
    const { s, drains } = await start();
    expect((await call(s, 'POST', '/drain', { Origin: 'http://evil.example' })).status).toBe(403);
    expect(drains).toEqual([]);
  });

  it('a throwing or async handler', async () => {
    const { s } = await start({
      status: () => {
        throw new Error('not ready');
      },
      metrics: async () => 'm 1\n',
    });
    const r = await call(s, 'GET', '/status');
    expect(r.status).toBe(500);
    expect(r.body).toContain('not ready');
    expect((await call(s, 'GET', '/metrics')).body).toBe('m 1\n');
  });

  it('rejects when the port is taken, and close() frees it', async () => {
    const { s } = await start();
    await expect(startAdminServer(s.address, { metrics: () => '', status: () => ({}), drain: () => {} })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    const port = s.address.port;
    await s.close();
    srv = await startAdminServer({ host: '127.0.0.1', port }, { metrics: () => '', status: () => ({}), drain: () => {} });
    expect(srv.address.port).toBe(port);
  });
});
