import { createServer, type IncomingMessage, type Server } from 'node:http';

/** A webhook receiver on localhost that records every delivery and answers as told. */
export interface Delivery {
  body: string;
  headers: IncomingMessage['headers'];
  status: number;
}

export async function receiver(
  answer: (delivery: Omit<Delivery, 'status'>, index: number) => number | 'drop',
) {
  const deliveries: Delivery[] = [];
  let index = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const delivery = { body: Buffer.concat(chunks).toString('utf8'), headers: request.headers };
      const status = answer(delivery, index++);
      if (status === 'drop') {
        request.socket.destroy();
        deliveries.push({ ...delivery, status: 0 });
        return;
      }
      deliveries.push({ ...delivery, status });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    deliveries,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function waitFor(check: () => boolean, timeoutMs = 10_000) {
  // performance.now, not Date: a test that fakes Date (deadlines) froze the wait's clock, so a
  // status never reached hung the test to its timeout instead of saying which it was.
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > timeoutMs) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
