import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('./log-destination.ts', import.meta.url));

/** Runs `body` in a fresh Node process with `destination` made, counting its writes to stdout on stderr. */
async function run(body: string): Promise<{ stdout: string; stderr: string }> {
  const script = `
    import { batchedStdout } from ${JSON.stringify(MODULE)};
    let writes = 0;
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk) => { writes++; return write(chunk); };
    process.on('exit', () => process.stderr.write(String(writes)));
    const destination = batchedStdout();
    ${body}
  `;
  return promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 });
}

describe('batchedStdout', () => {
  it('writes the lines of one event-loop turn together, in order', async () => {
    const { stdout, stderr } = await run(`for (let i = 0; i < 100; i++) destination.write(i + '\\n');`);
    expect(stdout).toBe(Array.from({ length: 100 }, (_, i) => `${i}\n`).join(''));
    expect(stderr).toBe('1');
  });

  it('does not lose lines written just before the process exits', async () => {
    const { stdout } = await run(`destination.write('last words\\n'); process.exit(0);`);
    expect(stdout).toBe('last words\n');
  });
});
