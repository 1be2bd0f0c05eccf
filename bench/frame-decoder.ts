// How long does FrameDecoder take to reassemble one big message that arrives
// in many small reads? A decoder that re-joins everything buffered on every
// push is quadratic here; one that keeps a list of chunks is linear.
//
//   npx tsc -p . && node dist/bench/frame-decoder.js [MiB] [KiB per push]
//
// No sockets: the decoder alone, fed slices as recvmsg would hand them over.
import { performance } from 'node:perf_hooks';
import { encodeMessage, FrameDecoder } from 'fdlab/wire';

const ROUNDS = 5;

function main(): void {
  const mib = Number(process.argv[2] ?? 16);
  const pushKib = Number(process.argv[3] ?? 64);
  const size = mib * 1024 * 1024;
  const [frame] = encodeMessage(Buffer.alloc(size, 0x5a), new Int32Array(0));
  const step = pushKib * 1024;
  // Slices made up front: the decoder may keep what it is given, and the
  // copies must not be on the clock.
  const slices: Buffer[] = [];
  for (let at = 0; at < frame.bytes.length; at += step) slices.push(Buffer.from(frame.bytes.subarray(at, at + step)));

  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const decoder = new FrameDecoder({ maxMessageBytes: size, maxMessageFds: 0 });
    const start = performance.now();
    let decoded = 0;
    for (const slice of slices) {
      for (const message of decoder.push(slice, [])) decoded += message.data.length;
    }
    times.push(performance.now() - start);
    if (decoded !== size) throw new Error(`decoded ${decoded} bytes, expected ${size}`);
  }
  const best = Math.min(...times);
  console.log(
    `${mib} MiB message in ${slices.length} pushes of ${pushKib} KiB: best ${best.toFixed(1)} ms ` +
      `(${(mib / (best / 1000)).toFixed(0)} MiB/s); every round: ${times.map((t) => t.toFixed(1)).join(', ')} ms`,
  );
}

main();
