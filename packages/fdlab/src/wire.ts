// fdlab/wire: the bytes on the wire, for a peer written in another runtime
// (docs/protocols.md; test/interop has one in Python) or a test of one. The
// FdChannel frame (header, fds per frame, decoder limits), the upgrade
// protocol's messages, and the non-throwing send/receive calls FdChannel
// runs on. Most programs want FdChannel and Upgrader from 'fdlab' instead.
export { FRAME_HEADER_BYTES, FDS_PER_FRAME, encodeMessage, FrameDecoder, type Frame, type DecodedMessage, type DecoderLimits } from './channel/frame';
export {
  BATCH_FDS,
  BATCH_BYTES,
  MAX_UPGRADE_MESSAGE,
  MAX_CONNECTION_BYTES,
  encode,
  decode,
  type UpgradeMessage,
  type FromNew,
  type FromOld,
  type ConnectionEntry,
  type SwitchEntry,
  type Decoded,
} from './handover/protocol';
export { sessionBytes } from './handover/too-large';
export { trySendFdsOverUnixSocket, tryRecvFdsInto } from './fd/transfer';
