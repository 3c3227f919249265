import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { config, secret } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('config', () => {
  it('reads a setting, falls back when unset and names the variable when required', () => {
    expect(config('QUEUE', undefined, { QUEUE: 'mail' })).toBe('mail');
    expect(config('QUEUE', 'default', {})).toBe('default');
    expect(() => config('QUEUE', undefined, {})).toThrow(
      expect.objectContaining({ code: 'FLOTILLA_CONFIG_MISSING', message: expect.stringContaining('QUEUE') }),
    );
  });
});

describe('secret', () => {
  it('reads a secret from its variable', () => {
    expect(secret('API_KEY', { API_KEY: 's3cr3t' })).toBe('s3cr3t');
  });

  it('reads a secret from the file named by NAME_FILE, dropping one trailing newline', () => {
    const file = join(dir, 'api-key');
    writeFileSync(file, 'from-file\n');
    expect(secret('API_KEY', { API_KEY_FILE: file })).toBe('from-file');
  });

  it('names both variables when neither is set, and the file when it cannot be read', () => {
    expect(() => secret('API_KEY', {})).toThrow(/API_KEY, or API_KEY_FILE/);
    const missing = join(dir, 'nope');
    expect(() => secret('API_KEY', { API_KEY_FILE: missing })).toThrow(
      expect.objectContaining({
        code: 'FLOTILLA_SECRET_UNREADABLE',
        message: expect.stringContaining(missing),
      }),
    );
  });

  it('refuses a secret set both ways without echoing its value', () => {
    const file = join(dir, 'both');
    writeFileSync(file, 'x');
    let message = '';
    try {
      secret('API_KEY', { API_KEY: 'hunter2', API_KEY_FILE: file });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/not both/);
    expect(message).not.toContain('hunter2');
  });

  it('treats an empty file as a missing secret', () => {
    const file = join(dir, 'empty');
    writeFileSync(file, '\n');
    expect(() => secret('API_KEY', { API_KEY_FILE: file })).toThrow(/is empty/);
  });
});
