import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';

/**
 * The bank's outgoing calls (webhooks) go to public hosts only. Checking the URL when it is
 * registered stops `http://127.0.0.1/` but not a name that resolves to a private address, or
 * one whose DNS answer changes after registration (rebinding): `publicOnlyFetch` checks the
 * address every connection is actually made to.
 */

/**
 * Hosts the bank must not be made to call: localhost names and IP literals in loopback,
 * private, link-local (cloud metadata), carrier-grade NAT, multicast and unspecified ranges.
 */
export function isPrivateHost(hostname: string): boolean {
  // `localhost.` is `localhost` (a fully qualified name ends with a dot: helper-40's review).
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.+$/, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host === '')
    return true;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127) ||
      a >= 224
    );
  }
  if (host.includes(':')) {
    return (
      host === '::' ||
      host === '::1' ||
      /^f[cd]/.test(host) ||
      /^fe[89ab]/.test(host) ||
      host.startsWith('::ffff:')
    );
  }
  return false;
}

export class PrivateAddressError extends Error {
  readonly code = 'EPRIVATEADDR';
}

type Resolver = (
  hostname: string,
  options: { all: true; family?: number },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

export interface PublicOnlyOptions {
  /** DNS resolution (tests map names to chosen addresses). */
  resolve?: Resolver;
  /** Which addresses are refused (tests loosen it to reach a local receiver). */
  isPrivateAddress?: (address: string) => boolean;
  /** Response bytes read at most (the rest is dropped; only the status matters). */
  responseBytesMax?: number;
}

/**
 * A `fetch` for webhook POSTs over node:http(s) whose connections are refused when the host
 * resolves to any private address (a name with one private address among public ones is
 * refused too, so the choice between them cannot be steered). Redirects are never followed.
 */
export function publicOnlyFetch(options: PublicOnlyOptions = {}): typeof fetch {
  const resolve: Resolver =
    options.resolve ?? ((hostname, lookupOptions, callback) => dnsLookup(hostname, lookupOptions, callback));
  const isPrivate = options.isPrivateAddress ?? isPrivateHost;
  const responseBytesMax = options.responseBytesMax ?? 64 * 1024;
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    resolve(
      hostname,
      { all: true, family: lookupOptions.family as number | undefined },
      (error, addresses) => {
        if (error) return callback(error, '', 0);
        const refused = addresses.find((address) => isPrivate(address.address));
        if (refused || addresses.length === 0) {
          const reason = refused ? `resolves to ${refused.address}, a private address` : 'has no address';
          return callback(
            new PrivateAddressError(`${hostname} ${reason}: webhooks go to public hosts only.`),
            '',
            0,
          );
        }
        if (lookupOptions.all)
          return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        const first = addresses[0] as LookupAddress;
        return callback(null, first.address, first.family);
      },
    );
  };

  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new TypeError(`Unsupported URL ${url.protocol}`);
    // IP literals connect without a lookup: check them here.
    if (isPrivate(url.hostname.replace(/^\[|\]$/g, ''))) {
      throw new PrivateAddressError(
        `${url.hostname} is a private address: webhooks go to public hosts only.`,
      );
    }
    const body =
      typeof init.body === 'string' ? init.body : init.body == null ? undefined : String(init.body);
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Response>((done, fail) => {
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return fail(signal.reason);
      const request = send(
        url,
        { method: init.method ?? 'GET', headers, lookup, agent: false },
        (response) => {
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > responseBytesMax) response.destroy();
          });
          const finish = () => {
            const status = response.statusCode ?? 0;
            if (status < 200 || status > 599) fail(new Error(`Unexpected HTTP status ${status}.`));
            else done(new Response(null, { status, statusText: response.statusMessage }));
          };
          response.on('end', finish);
          response.on('close', finish);
          response.on('error', () => finish());
        },
      );
      const onAbort = () =>
        request.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      request.on('error', (error) => {
        signal?.removeEventListener('abort', onAbort);
        fail(error);
      });
      request.on('close', () => signal?.removeEventListener('abort', onAbort));
      request.end(body);
    });
  }) as typeof fetch;
}
