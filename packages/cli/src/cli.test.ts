import { describe, expect, it } from 'vitest';
import { runFlotilla } from './testing/run-flotilla.ts';

const COMMANDS = ['up', 'down', 'status', 'logs', 'mail', 'dead-letters', 'scale', 'ca', 'validate'];

describe('flotilla', () => {
  it('lists every command with what it does on --help, and exits 0', async () => {
    const result = await runFlotilla(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: flotilla <command> [flags]');
    for (const name of COMMANDS) expect(result.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
  });

  it('prints the overview to stderr and exits 2 when no command is given', async () => {
    const result = await runFlotilla([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Commands:');
  });

  it('suggests the closest command for a typo and exits 2', async () => {
    const result = await runFlotilla(['stauts']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('error: unknown command "stauts", did you mean "status"?');
  });

  it.each(COMMANDS)('explains "%s" on --help: usage, flags with defaults and an example', async (name) => {
    const result = await runFlotilla([name, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: flotilla ${name}`);
    expect(result.stdout).toContain('-h, --help');
    expect(result.stdout).toMatch(/Examples?:\n {2}flotilla /);
  });

  it('shows help even when the rest of the line is wrong', async () => {
    const result = await runFlotilla(['scale', '--nope', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: flotilla scale <service> <n> [flags]');
  });

  it('shows the default spec file in the help of commands that read it', async () => {
    const result = await runFlotilla(['status', '--help']);
    expect(result.stdout).toMatch(/-f, --file <path> +the system spec \(default: flotilla\.yaml\)/);
  });

  it('says in the help of logs that -f is --follow there', async () => {
    const result = await runFlotilla(['logs', '--help']);
    expect(result.stdout).toMatch(/-f, --follow/);
    expect(result.stdout).toMatch(/ {6}--file <path> +the system spec; --file only/);
  });

  it('rejects an unknown flag with a hint and the usage, exit 2', async () => {
    const result = await runFlotilla(['status', '--jsn']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: unknown flag --jsn, did you mean --json?\nUsage: flotilla status [flags]\nRun "flotilla status --help" for details.\n',
    );
  });

  it('rejects a flag without its value, exit 2', async () => {
    const result = await runFlotilla(['logs', 'orders', '--tail']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: --tail needs a value\nUsage: flotilla logs <service> \[flags\]/);
  });

  it('rejects a missing argument and an extra one, exit 2', async () => {
    const missing = await runFlotilla(['scale', 'orders']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: missing <n>\n/);
    const extra = await runFlotilla(['status', 'orders']);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^error: unexpected argument "orders"\n/);
  });

  it('rejects values that are not numbers where numbers are expected, exit 2', async () => {
    expect((await runFlotilla(['scale', 'orders', 'three'])).stderr).toMatch(
      /^error: <n> must be a whole number >= 0, got "three"/,
    );
    const port = await runFlotilla(['up', '--gateway-port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/^error: --gateway-port must be a port from 0 to 65535, got "70000"/);
  });
});
