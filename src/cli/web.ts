// `lilyvm web`: serves the web page (dist/web/, built by npm run build) and the default
// guest's files on 127.0.0.1, and prints the address. The machine runs in the browser.
import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { DEFAULT_INITRD, DEFAULT_KERNEL, PACKAGE_ROOT } from '../host/defaults.ts';

export const WEB_DIR = join(PACKAGE_ROOT, 'dist', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** URL path -> file: the page's files and the guest's two images. */
function resolve(urlPath: string): string | undefined {
  if (urlPath === '/') return join(WEB_DIR, 'index.html');
  if (urlPath === '/guest/bzImage') return DEFAULT_KERNEL;
  if (urlPath === '/guest/initramfs.cpio') return DEFAULT_INITRD;
  const name = urlPath.slice(1);
  if (!/^[a-z0-9.-]+$/i.test(name) || name.startsWith('.')) return undefined;
  return join(WEB_DIR, name);
}

/** Start serving; resolves with the server and its address once it listens. */
export function serveWeb(host: string, port: number): Promise<{ server: Server; url: string }> {
  if (!existsSync(join(WEB_DIR, 'index.html'))) {
    return Promise.reject(new Error(`the web page is not built (${WEB_DIR} is missing): run npm run build`));
  }
  const server = createServer((req, res) => {
    const path = resolve(new URL(req.url ?? '/', 'http://x').pathname);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (!path || !existsSync(path) || !statSync(path).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
      'content-length': statSync(path).size,
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(path).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      const p = typeof a === 'object' && a ? a.port : port;
      resolvePromise({ server, url: `http://${host}:${p}/` });
    });
  });
}
