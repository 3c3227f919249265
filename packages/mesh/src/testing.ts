/**
 * Test fixtures of the mesh for other packages' tests (`@flotilla/mesh/testing`): a tiny CA that
 * issues workload certificates as the control plane's does. Not for production code.
 */
export { createTestCa, type TestCa, testCertificate, testKeyPair } from './tls/test-support.ts';
