import type { TestGateway } from './gateway.ts';

/** The cookies a response sets, by name (the bank pages' session, CSRF and pre-login tokens). */
export function cookiesOf(headers: Headers): Record<string, string> {
  const jar: Record<string, string> = {};
  for (const line of headers.getSetCookie()) {
    const [pair] = line.split(';');
    const [name, value] = (pair as string).split('=');
    jar[name as string] = value as string;
  }
  return jar;
}

/** A form post to the bank's pages, as a browser sends it. */
export function postForm(
  gateway: TestGateway,
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return gateway.gateway.app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}
