/**
 * The reference proxies: nginx and HAProxy, each configured the way one would put it in front of a
 * service in production (keep-alive to the client and to the upstream, no access log), one worker
 * each like the gateway's one replica, all files in a temporary directory.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasExited, spawnOwned } from './processes.ts';

export interface RunningProxy {
  url: string;
  child: ChildProcess;
}

/** A port that was free a moment ago (nginx and HAProxy cannot be told to pick one). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('could not find a free port');
  return address.port;
}

/** nginx `proxy_pass` to an upstream block with idle keep-alive connections, in the foreground. */
export async function startNginx(upstreamPort: number, dir: string): Promise<RunningProxy> {
  const port = await freePort();
  mkdirSync(join(dir, 'temp'), { recursive: true });
  const config = join(dir, 'nginx.conf');
  writeFileSync(
    config,
    `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'temp')};
  proxy_temp_path ${join(dir, 'temp')};
  fastcgi_temp_path ${join(dir, 'temp')};
  uwsgi_temp_path ${join(dir, 'temp')};
  scgi_temp_path ${join(dir, 'temp')};
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const child = spawnOwned('nginx', [
    '-p',
    dir,
    '-e',
    join(dir, 'nginx-error.log'),
    '-c',
    config,
    '-g',
    'daemon off;',
  ]);
  return { url: `http://127.0.0.1:${port}/`, child: await started('nginx', child, port) };
}

/** HAProxy in HTTP mode with keep-alive on both sides and server-side connection reuse, in the foreground. */
export async function startHaproxy(upstreamPort: number, dir: string): Promise<RunningProxy> {
  const port = await freePort();
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    `global
  nbthread 1
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend bench
  bind 127.0.0.1:${port}
  default_backend bench_upstream

backend bench_upstream
  server upstream 127.0.0.1:${upstreamPort}
`,
  );
  const child = spawnOwned('haproxy', ['-f', config]);
  return { url: `http://127.0.0.1:${port}/`, child: await started('haproxy', child, port) };
}

/** Resolves once `port` accepts HTTP; rejects with the proxy's output when it exits or takes over 10 s. */
async function started(name: string, child: ChildProcess, port: number): Promise<ChildProcess> {
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (hasExited(child)) break;
    try {
      await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) }).then((r) =>
        r.arrayBuffer(),
      );
      return child;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(
    `${name} did not start (${hasExited(child) ? `exit ${child.exitCode}` : 'timeout'}): ${output.trim()}`,
  );
}
