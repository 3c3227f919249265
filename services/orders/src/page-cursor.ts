import { HttpError } from '@flotilla/runtime';

/**
 * Opaque page cursors: base64url JSON, so that clients pass them back unchanged and the server may
 * change what is inside. A cursor that does not decode to the expected shape answers 400.
 */
export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** The cursor's content, checked by `valid`; 400 INVALID_CURSOR otherwise. */
export function decodeCursor<T>(cursor: string, valid: (value: unknown) => value is T): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!valid(value)) {
    throw new HttpError(
      400,
      'INVALID_CURSOR',
      'The cursor is not one this service gave out; start again without it.',
    );
  }
  return value;
}
