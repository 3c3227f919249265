import type { Readable } from 'node:stream';

/**
 * Reads a message's DATA stream to its end, keeping at most `limitBytes`: smtp-server goes on
 * delivering an oversized message (it refuses it with 552 once it has ended), and holding all of
 * it would let one sender fill the control plane's memory.
 */
export function readMessage(stream: Readable, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= limitBytes) chunks.push(chunk);
    });
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}
