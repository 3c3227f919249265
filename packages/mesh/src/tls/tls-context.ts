import { createSecureContext, createServer, type SecureContext, type Server } from 'node:tls';
import { MESH_DEFAULTS } from '../defaults.ts';

/** A key and PEM chain, as `WorkloadCertificate.current()` returns them. */
export interface KeyAndChain {
  readonly key: string;
  readonly cert: string;
}

/** What WorkloadTls reads per connection: a certificate source such as CertificateSource. */
export interface TlsMaterial {
  /** The key and chain in force; the same object until they change. */
  current(): KeyAndChain;
  /** The PEM roots peers are verified against; the same array until it changes. */
  trustBundle(): readonly string[];
}

/**
 * The `tls.createSecureContext` options of a workload. `ca` is always an array, an empty one
 * included: Node falls back to the public roots only when `ca` is absent, and a mesh peer must
 * never be trusted because a public CA vouches for it.
 */
function contextOptions(pair: KeyAndChain, trustBundle: readonly string[]) {
  return { key: pair.key, cert: pair.cert, ca: [...trustBundle], minVersion: MESH_DEFAULTS.tls.minVersion };
}

/** The last context built for each key pair, with the bundle it trusts; gone when the pair is. */
const built = new WeakMap<KeyAndChain, { bundleKey: string; context: SecureContext }>();

/**
 * A secure context presenting `pair` and trusting only `trustBundle`, min TLS 1.3. Building one
 * costs about a millisecond, so the last one per pair object is kept and handed out again while
 * the bundle's content is unchanged.
 */
export function secureContextOf(pair: KeyAndChain, trustBundle: readonly string[]): SecureContext {
  const bundleKey = trustBundle.join('\n');
  const cached = built.get(pair);
  if (cached?.bundleKey === bundleKey) return cached.context;
  const context = createSecureContext(contextOptions(pair, trustBundle));
  built.set(pair, { bundleKey, context });
  return context;
}

/**
 * The TLS side of a workload: its current certificate and trust bundle as a client context and as
 * a server, rebuilt only when the certificate renews or the bundle changes. Asking costs two
 * reference comparisons, so callers ask per connection and never hold on to a context.
 */
export class WorkloadTls {
  readonly #material: TlsMaterial;
  #pair: KeyAndChain | undefined;
  #bundle: readonly string[] | undefined;
  #context: SecureContext | undefined;

  constructor(material: TlsMaterial) {
    this.#material = material;
  }

  /** The context for `tls.connect({ secureContext, checkServerIdentity })`, current as of now. */
  context(): SecureContext {
    const pair = this.#material.current();
    const bundle = this.#material.trustBundle();
    if (pair !== this.#pair || bundle !== this.#bundle || this.#context === undefined) {
      this.#context = secureContextOf(pair, bundle);
      this.#pair = pair;
      this.#bundle = bundle;
    }
    return this.#context;
  }

  /**
   * A TLS terminator that never listens: hand it accepted sockets with `emit('connection', socket)`
   * and take the decrypted ones from its `secureConnection` event (to `httpServer.emit('connection',
   * tlsSocket)`). It asks every client for a certificate; with `rejectUnauthorized` (the default) it
   * drops a client without a certificate the bundle verifies.
   *
   * Why a tls.Server and not `new tls.TLSSocket(socket, { isServer: true, secureContext })`: a
   * server-side TLSSocket of its own never sets `authorized` and never rejects a certificate of a
   * foreign CA (Node does both in tls.Server's connection handler), so `peerIdentity` would see
   * nobody and strict mode would let anybody in. A tls.Server cannot take a SecureContext, so this
   * one is brought up to date by `setSecureContext` before each connection that finds the
   * certificate or bundle changed.
   */
  createServer(options: { rejectUnauthorized?: boolean } = {}): Server {
    const pair = this.#material.current();
    const bundle = this.#material.trustBundle();
    let applied = { pair, bundle };
    const server = createServer({
      ...contextOptions(pair, bundle),
      requestCert: true,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
    });
    // Runs before tls.Server's own connection listener, which wraps the socket with the context set here.
    server.prependListener('connection', () => {
      const now = { pair: this.#material.current(), bundle: this.#material.trustBundle() };
      if (now.pair === applied.pair && now.bundle === applied.bundle) return;
      server.setSecureContext(contextOptions(now.pair, now.bundle));
      applied = now;
    });
    return server;
  }
}
