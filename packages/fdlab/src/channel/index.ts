export { FdChannel, type FdMessage, type FdChannelOptions } from './fd-channel';
export { FdChannelServer, type ListenOptions } from './channel-server';
