export { loadOrCreateAdminToken, readAdminToken } from './admin-token.ts';
export { StateError, type StateErrorCode } from './errors.ts';
export { pickFreePort } from './free-port.ts';
export { statePaths } from './paths.ts';
export { isProcessAlive } from './process-alive.ts';
export { randomToken } from './random-token.ts';
export { readOrCreateSecret, readPrivateFile, readSecret } from './secret-file.ts';
export { readRunRecord, removeRunRecord, type RunRecord, writeRunRecord } from './run-record.ts';
export { resolveSecrets } from './secrets.ts';
export { ensureStateDir } from './state-dir.ts';
export { tokenDigest } from './token-digest.ts';
export {
  claimStateDir,
  readStateFile,
  removeStateFile,
  type StateFile,
  writeStateFile,
} from './state-file.ts';
