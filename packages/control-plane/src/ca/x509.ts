/**
 * The one door to `@peculiar/x509`. It resolves its parts through tsyringe, which needs the Reflect
 * metadata API before it loads, so the polyfill is imported first; ES modules evaluate imports in
 * order. Every call that takes a crypto provider is given Node's `webcrypto` explicitly, so nothing
 * depends on the library's global provider.
 */
import 'reflect-metadata';

export * from '@peculiar/x509';
