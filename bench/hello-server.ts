import { serve } from '@hono/node-server';
import { Hono } from 'hono';

/**
 * The machine's own HTTP limits, served exactly the way the gateway is served (Hono on
 * @hono/node-server in its own Node process): a hello-world GET and a POST that parses JSON.
 */
const app = new Hono();
app.get('/', (c) => c.text('Hello Hono!'));
app.post('/json', async (c) => {
  const body = (await c.req.json()) as { amountMinor?: number };
  return c.json({ ok: true, amountMinor: body.amountMinor ?? 0 });
});
serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: '127.0.0.1' }, (info) => {
  console.log(`listening ${info.port}`);
});
