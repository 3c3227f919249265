/**
 * How one instance answers a burst larger than its database pool: `node bench/pool-burst.ts
 * [holdMs=250] [rounds=3]`, about 30 s. Uses the PostgreSQL of DATABASE_URL (a database of its
 * own, dropped afterwards) or else an embedded one.
 *
 * One service instance (`packages/runtime/src/database.fixture.ts`) runs in a child process, so
 * that the client's CPU is not the instance's. Each round sends 300 requests at once to
 * `GET /work?ms=<holdMs>`, a transaction that keeps its connection for holdMs (250 ms: about what
 * orders holds one across its call to payments), each on a connection of its own, and records
 * every answer: status, error code, Retry-After and time to the answer. Prints the counts and
 * p50 / p99 / max per status; it does not write RESULTS.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startTestPostgres } from '../test/support/postgres.ts';
import { percentile } from './lib/latency.ts';

const holdMs = Number(process.argv[2] ?? 250);
const rounds = Number(process.argv[3] ?? 3);
const burst = 300;

interface Answer {
  status: number;
  code: string;
  retryAfter: string | undefined;
  ms: number;
}

function get(port: number, path: string): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const code =
          res.statusCode === 200
            ? ''
            : ((JSON.parse(body) as { error?: { code?: string } }).error?.code ?? '');
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, code, retryAfter, ms: performance.now() - started });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) =>
      resolve({ status: 0, code: err.message, retryAfter: undefined, ms: performance.now() - started }),
    );
    req.end();
  });
}

function summary(answers: Answer[]): string {
  const ms = Float64Array.from(answers.map((a) => a.ms)).sort();
  const f = (p: number) => percentile(ms, p).toFixed(0);
  return `n=${answers.length} p50=${f(50)} ms p99=${f(99)} ms max=${f(100)} ms`;
}

async function startInstance(databaseUrl: string): Promise<{ child: ChildProcess; port: number }> {
  const fixture = fileURLToPath(new URL('../packages/runtime/src/database.fixture.ts', import.meta.url));
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, PORT: '0', DATABASE_URL: databaseUrl, FLOTILLA_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the instance exited with ${code} before listening`)));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as { msg?: string; port?: number };
      if (line.msg === 'listening' && line.port) resolve(line.port);
    });
  });
  return { child, port };
}

const postgres = await startTestPostgres();
let instance: { child: ChildProcess; port: number } | undefined;
const stop = async () => {
  instance?.child.kill('SIGKILL');
  await postgres.stop();
};
process.once('SIGINT', () => void stop().then(() => process.exit(130)));
try {
  instance = await startInstance(postgres.url);
  const { port } = instance;
  // Opens the pool's connections first, so that the rounds measure waiting, not connecting.
  await Promise.all(Array.from({ length: 20 }, () => get(port, '/work?ms=0')));
  console.log(
    `pool-burst: ${burst} requests at once, each holding a connection ${holdMs} ms, ${rounds} rounds`,
  );
  for (let round = 1; round <= rounds; round++) {
    const answers = await Promise.all(Array.from({ length: burst }, () => get(port, `/work?ms=${holdMs}`)));
    const byKind = new Map<string, Answer[]>();
    for (const a of answers) {
      const kind = `${a.status}${a.code ? ` ${a.code}` : ''}`;
      byKind.set(kind, [...(byKind.get(kind) ?? []), a]);
    }
    const noRetryAfter = answers.filter((a) => a.status === 503 && a.retryAfter === undefined).length;
    console.log(`round ${round}: all ${summary(answers)}; 503 without Retry-After: ${noRetryAfter}`);
    for (const [kind, list] of [...byKind].sort()) console.log(`  ${kind}: ${summary(list)}`);
    await sleep(1_000);
  }
} finally {
  await stop();
}
