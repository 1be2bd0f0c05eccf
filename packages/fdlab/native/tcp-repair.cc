// TCP_REPAIR (Linux 3.11+, TCP_REPAIR_WINDOW 4.8+): an established connection's
// kernel state read out of one socket and written into a fresh one, the steps
// of CRIU's libsoccr (soccr/soccr.c), ESTABLISHED connections only.
//
// Carried: the 4-tuple, both queues' sequence numbers and bytes (the receive
// queue's unread bytes; the send queue's sent-but-unacknowledged bytes and its
// unsent ones apart), the MSS clamp, the negotiated options (SACK, window
// scale both ways, timestamps) and the timestamp clock, and the windows
// (TCP_REPAIR_WINDOW: snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup).
// Not carried: congestion state (cwnd, ssthresh, srtt: the new socket starts
// as a new connection would, and retransmits its unacked bytes on its first
// RTO), TCP_FASTOPEN, MD5/AO keys, urgent data, half-closed states (FIN in a
// queue), and every socket option not named here (TCP_NODELAY, keepalive,
// SO_RCVBUF/SO_SNDBUF, marks, TCP_CONGESTION...): the caller sets them again.
//
// The kernel keeps processing segments while a socket is in repair mode, and
// acknowledges what arrives: whoever dumps must first keep the peer's packets
// away (CRIU: a netfilter drop rule), or bytes acknowledged after the dump are
// lost. The reads below are repeated until two rounds agree, so a segment that
// slips in during the dump cannot tear the state it returns.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp-state.h"

#include <algorithm>
#include <string>
#include <vector>

#include "errors.h"
#include "tcp-repair.h"

namespace fdlab {

namespace {

// TCP option kinds for TCP_REPAIR_OPTIONS (RFC 793/7323/2018; <netinet/tcp.h> has them but clashes with <linux/tcp.h>).
constexpr uint32_t kOptMaxSeg = 2, kOptWindow = 3, kOptSackPermitted = 4, kOptTimestamp = 8;
constexpr int kEstablished = 1;

const char* const kPermissionHint =
    "TCP_REPAIR needs CAP_NET_ADMIN in the user namespace that owns the socket's network namespace: "
    "run as root, inside 'unshare -Urn' (an unprivileged user holds it in its own namespaces), "
    "or in a container started with --cap-add NET_ADMIN";

const char* const kStateHint =
    "only an established connection can be dumped (the socket is left as it was); "
    "move a listener or an unconnected socket with fd passing (sendFds), and let a closing connection finish";

// The kernel's TCP states (include/net/tcp_states.h), for messages.
std::string StateName(int state) {
  static const char* const names[] = {"?",         "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
                                      "CLOSE",     "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV"};
  return state > 0 && state < static_cast<int>(sizeof(names) / sizeof(names[0])) ? names[state] : "#" + std::to_string(state);
}

[[noreturn]] void ThrowSockopt(Napi::Env env, int err, const char* what) {
  if (err == EPERM || err == EACCES) {
    throw CodedError(env, "ERR_TCP_REPAIR_PERMISSION", std::string(what) + " EPERM: " + kPermissionHint);
  }
  throw SystemError(env, err, what);
}

void SetInt(Napi::Env env, int fd, int option, int value, const char* what) {
  if (setsockopt(fd, IPPROTO_TCP, option, &value, sizeof(value)) < 0) ThrowSockopt(env, errno, what);
}

int GetInt(Napi::Env env, int fd, int option, const char* what) {
  int value = 0;
  socklen_t length = sizeof(value);
  if (getsockopt(fd, IPPROTO_TCP, option, &value, &length) < 0) ThrowSockopt(env, errno, what);
  return value;
}

int Ioctl(Napi::Env env, int fd, unsigned long request, const char* what) {
  int value = 0;
  if (ioctl(fd, request, &value) < 0) throw SystemError(env, errno, what);
  return value;
}

// TCP_QUEUE_SEQ of the selected queue: where it ENDS (rcv_nxt, write_seq); its bytes are peeked.
uint32_t QueueEnd(Napi::Env env, int fd, int queue) {
  SetInt(env, fd, TCP_REPAIR_QUEUE, queue, "setsockopt(TCP_REPAIR_QUEUE)");
  uint32_t seq = 0;
  socklen_t length = sizeof(seq);
  if (getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &length) < 0) ThrowSockopt(env, errno, "getsockopt(TCP_QUEUE_SEQ)");
  return seq;
}

// Peeks the selected queue: exactly `length` bytes, or -1 when it holds another count now.
ssize_t PeekQueue(Napi::Env env, int fd, std::vector<uint8_t>* bytes, size_t length) {
  bytes->assign(length + 1, 0);  // one more: a queue that grew is seen
  if (length == 0) {
    bytes->clear();
    return 0;
  }
  ssize_t got = recv(fd, bytes->data(), length + 1, MSG_PEEK | MSG_DONTWAIT);
  if (got < 0 && errno != EAGAIN) throw SystemError(env, errno, "recv(MSG_PEEK)");
  if (got != static_cast<ssize_t>(length)) return -1;
  bytes->resize(length);
  return got;
}

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

Napi::Object AddressObject(Napi::Env env, const sockaddr_storage& ss) {
  Napi::Object out = Napi::Object::New(env);
  char text[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
    out.Set("port", ntohs(sin->sin_port));
  } else {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
    out.Set("port", ntohs(sin6->sin6_port));
  }
  out.Set("address", text);
  return out;
}

Napi::Buffer<uint8_t> BufferOf(Napi::Env env, const std::vector<uint8_t>& bytes) {
  return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size());
}

// ---- reading the state object restore gets (src/socket/tcp-repair.ts checked its shape; this checks values again)

[[noreturn]] void BadState(Napi::Env env, const std::string& what) {
  throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE", "tcpRepairRestore: " + what);
}

double Field(Napi::Env env, Napi::Object state, const char* name, double min, double max) {
  Napi::Value value = state.Get(name);
  if (!value.IsNumber()) BadState(env, std::string(name) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (number != static_cast<double>(static_cast<long long>(number)) || number < min || number > max) {
    BadState(env, std::string(name) + " must be an integer from " + std::to_string(static_cast<long long>(min)) + " to " +
                      std::to_string(static_cast<long long>(max)));
  }
  return number;
}

bool Flag(Napi::Object state, const char* name) { return state.Get(name).ToBoolean().Value(); }

ArrayArg<uint8_t> Bytes(Napi::Env env, Napi::Object state, const char* name) {
  Napi::Value value = state.Get(name);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    BadState(env, std::string(name) + " must be a Buffer");
  }
  Napi::Uint8Array array = value.As<Napi::Uint8Array>();
  return {array.Data(), array.ElementLength()};
}

Address AddressField(Napi::Env env, Napi::Object state, const char* name, int family) {
  Napi::Value value = state.Get(name);
  if (!value.IsObject()) BadState(env, std::string(name) + " must be { address, port }");
  Napi::Object object = value.As<Napi::Object>();
  Napi::Value text = object.Get("address");
  if (!text.IsString()) BadState(env, std::string(name) + ".address must be a string");
  std::string address = text.As<Napi::String>().Utf8Value();
  int port = static_cast<int>(Field(env, object, "port", 1, 65535));
  Address out;
  if (family == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    if (inet_pton(AF_INET, address.c_str(), &sin->sin_addr) != 1) BadState(env, std::string(name) + ".address is not IPv4: " + address);
    out.length = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, address.c_str(), &sin6->sin6_addr) != 1) BadState(env, std::string(name) + ".address is not IPv6: " + address);
    out.length = sizeof(sockaddr_in6);
  }
  return out;
}

// Writes bytes into the selected repair queue; the kernel allocates one linear
// buffer per call, so a refused large chunk is retried in halves (as libsoccr does).
void FillQueue(Napi::Env env, int fd, const uint8_t* data, size_t length, const char* what) {
  size_t offset = 0, chunk = length;
  while (offset < length) {
    size_t size = std::min(chunk, length - offset);
    ssize_t sent = send(fd, data + offset, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent > 0) {
      offset += static_cast<size_t>(sent);
      continue;
    }
    if (chunk > 1024) {
      chunk /= 2;
      continue;
    }
    throw SystemError(env, sent < 0 ? errno : ENOMEM, what);
  }
}

// The unsent bytes go out as an ordinary write once repair mode is off; wait (at
// most a second) if the new socket's buffer is smaller than the old one's was.
void SendUnsent(Napi::Env env, int fd, const uint8_t* data, size_t length) {
  size_t offset = 0;
  while (offset < length) {
    ssize_t sent = send(fd, data + offset, length - offset, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent > 0) {
      offset += static_cast<size_t>(sent);
      continue;
    }
    if (sent < 0 && errno == EAGAIN) {
      struct pollfd p = {fd, POLLOUT, 0};
      if (poll(&p, 1, 1000) > 0) continue;
      throw SystemError(env, ETIMEDOUT, "send", "the unsent bytes did not fit the new socket's send buffer within 1 s");
    }
    throw SystemError(env, errno, "send");
  }
}

// A buffer at least `needed` bytes big: a queue larger than the new socket's
// default buffer (an autotuned old socket's) would not fit. Only then is the
// size forced (CAP_NET_ADMIN, held already), which also ends its autotuning.
void EnsureBuffer(Napi::Env env, int fd, int option, int force, size_t needed, const char* what) {
  int size = 0;
  socklen_t length = sizeof(size);
  if (getsockopt(fd, SOL_SOCKET, option, &size, &length) < 0) throw SystemError(env, errno, what);
  // The kernel reports (and charges) twice what was set, and counts overhead per segment: keep a quarter spare.
  if (needed + needed / 4 <= static_cast<size_t>(size)) return;
  int wanted = static_cast<int>(std::min<size_t>(needed + needed / 4, 1 << 30));
  if (setsockopt(fd, SOL_SOCKET, force, &wanted, sizeof(wanted)) < 0) ThrowSockopt(env, errno, what);
}

}  // namespace

// tcpRepairDump(fd) -> the state of an ESTABLISHED connection; the socket is
// left in repair mode, so closing it sends nothing (no FIN, no RST), or
// tcpRepairSet(fd, false) lets it go on.
Napi::Value TcpRepairDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  struct tcp_info ti;
  socklen_t ti_length = sizeof(ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &ti_length) < 0) {
    if (errno == ENOTSOCK || errno == EOPNOTSUPP || errno == ENOPROTOOPT) {
      throw CodedError(env, "ERR_TCP_REPAIR_STATE", "dumpTcp: fd " + std::to_string(fd) + " is not a TCP socket: " + kStateHint);
    }
    throw SystemError(env, errno, "getsockopt(TCP_INFO)");
  }
  if (ti.tcpi_state != kEstablished) {
    throw CodedError(env, "ERR_TCP_REPAIR_STATE", "dumpTcp: fd " + std::to_string(fd) + " is a TCP socket in state " +
                                                      StateName(ti.tcpi_state) + ", not ESTABLISHED: " + kStateHint);
  }
  // With an urgent byte pending, SIOCINQ stops at its mark (measured, tcp-state.cc): the dump would
  // read the receive queue short while recvEnd counts past it, and a restore would misplace the rest.
  if (UrgentPending(fd)) {
    throw CodedError(env, "ERR_TCP_REPAIR_STATE", "dumpTcp: fd " + std::to_string(fd) + " has urgent data (MSG_OOB) pending, which a dump cannot carry: "
                     "read it first (recv with MSG_OOB, or SO_OOBINLINE before it arrives); the socket is left as it was");
  }
  sockaddr_storage local{}, remote{};
  socklen_t local_length = sizeof(local), remote_length = sizeof(remote);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) < 0) throw SystemError(env, errno, "getsockname");
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_length) < 0) throw SystemError(env, errno, "getpeername");

  SetInt(env, fd, TCP_REPAIR, TCP_REPAIR_ON, "setsockopt(TCP_REPAIR)");
  try {
    Napi::Object out = Napi::Object::New(env);
    ti_length = sizeof(ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &ti_length) < 0) throw SystemError(env, errno, "getsockopt(TCP_INFO)");
    if (ti.tcpi_state != kEstablished) {
      throw CodedError(env, "ERR_TCP_REPAIR_STATE", "dumpTcp: the connection left ESTABLISHED (a FIN or RST arrived) during the dump: keep the peer's packets away "
                       "(a firewall drop rule) before dumping; the socket left repair mode");
    }
    // The queues move while segments arrive: read everything twice until both rounds agree.
    std::vector<uint8_t> in_bytes, out_bytes;
    uint32_t in_end = 0, out_end = 0;
    int unsent = 0;
    bool agreed = false;
    for (int attempt = 0; attempt < 16 && !agreed; attempt++) {
      int in = Ioctl(env, fd, SIOCINQ, "ioctl(SIOCINQ)");
      int outq = Ioctl(env, fd, SIOCOUTQ, "ioctl(SIOCOUTQ)");
      unsent = Ioctl(env, fd, SIOCOUTQNSD, "ioctl(SIOCOUTQNSD)");
      in_end = QueueEnd(env, fd, TCP_RECV_QUEUE);
      if (PeekQueue(env, fd, &in_bytes, in) < 0) continue;
      out_end = QueueEnd(env, fd, TCP_SEND_QUEUE);
      if (PeekQueue(env, fd, &out_bytes, outq) < 0) continue;
      agreed = Ioctl(env, fd, SIOCINQ, "ioctl(SIOCINQ)") == in && Ioctl(env, fd, SIOCOUTQ, "ioctl(SIOCOUTQ)") == outq &&
               QueueEnd(env, fd, TCP_RECV_QUEUE) == in_end;
    }
    SetInt(env, fd, TCP_REPAIR_QUEUE, TCP_NO_QUEUE, "setsockopt(TCP_REPAIR_QUEUE)");
    if (!agreed) {
      throw CodedError(env, "ERR_TCP_REPAIR_MOVING",
                       "dumpTcp: the connection's queues kept changing during 16 reads: keep the peer's packets away "
                       "(a firewall drop rule) before dumping");
    }
    out.Set("family", local.ss_family == AF_INET ? 4 : 6);
    out.Set("local", AddressObject(env, local));
    out.Set("remote", AddressObject(env, remote));
    out.Set("recvEnd", in_end);  // rcv_nxt: the next byte the peer sends has this number
    out.Set("sendEnd", out_end);  // write_seq: the next byte this side writes gets this number
    out.Set("recvQueue", BufferOf(env, in_bytes));
    out.Set("sendQueue", BufferOf(env, out_bytes));
    out.Set("unsent", unsent);
    out.Set("mss", GetInt(env, fd, TCP_MAXSEG, "getsockopt(TCP_MAXSEG)"));
    out.Set("sack", (ti.tcpi_options & TCPI_OPT_SACK) != 0);
    bool wscale = (ti.tcpi_options & TCPI_OPT_WSCALE) != 0;
    out.Set("windowScale", wscale);
    out.Set("sendWindowScale", wscale ? ti.tcpi_snd_wscale : 0);
    out.Set("recvWindowScale", wscale ? ti.tcpi_rcv_wscale : 0);
    bool timestamps = (ti.tcpi_options & TCPI_OPT_TIMESTAMPS) != 0;
    out.Set("timestamps", timestamps);
    out.Set("timestamp", timestamps ? static_cast<uint32_t>(GetInt(env, fd, TCP_TIMESTAMP, "getsockopt(TCP_TIMESTAMP)")) : 0);
    struct tcp_repair_window window;
    socklen_t window_length = sizeof(window);
    if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &window, &window_length) < 0) throw SystemError(env, errno, "getsockopt(TCP_REPAIR_WINDOW)");
    Napi::Object w = Napi::Object::New(env);
    w.Set("sndWl1", window.snd_wl1);
    w.Set("sndWnd", window.snd_wnd);
    w.Set("maxWindow", window.max_window);
    w.Set("rcvWnd", window.rcv_wnd);
    w.Set("rcvWup", window.rcv_wup);
    out.Set("window", w);
    return out;
  } catch (...) {
    int off = TCP_REPAIR_OFF;
    setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));  // the socket goes on as it was
    throw;
  }
}

// tcpRepairRestore(state) -> a new fd holding the connection, ESTABLISHED,
// repair mode off. Nothing is sent to the peer but a window probe (an ACK).
Napi::Value TcpRepairRestore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "tcpRepairRestore: state must be an object");
  Napi::Object state = info[0].As<Napi::Object>();
  int family = static_cast<int>(Field(env, state, "family", 4, 6));
  if (family != 4 && family != 6) BadState(env, "family must be 4 or 6");
  Address local = AddressField(env, state, "local", family);
  Address remote = AddressField(env, state, "remote", family);
  uint32_t recv_end = static_cast<uint32_t>(Field(env, state, "recvEnd", 0, 4294967295.0));
  uint32_t send_end = static_cast<uint32_t>(Field(env, state, "sendEnd", 0, 4294967295.0));
  ArrayArg<uint8_t> recv_queue = Bytes(env, state, "recvQueue");
  ArrayArg<uint8_t> send_queue = Bytes(env, state, "sendQueue");
  size_t unsent = static_cast<size_t>(Field(env, state, "unsent", 0, static_cast<double>(send_queue.length)));
  int mss = static_cast<int>(Field(env, state, "mss", 1, 65535));
  bool timestamps = Flag(state, "timestamps"), wscale = Flag(state, "windowScale");
  uint32_t send_wscale = static_cast<uint32_t>(Field(env, state, "sendWindowScale", 0, 14));
  uint32_t recv_wscale = static_cast<uint32_t>(Field(env, state, "recvWindowScale", 0, 14));
  uint32_t timestamp = static_cast<uint32_t>(Field(env, state, "timestamp", 0, 4294967295.0));
  Napi::Value window_value = state.Get("window");
  if (!window_value.IsObject()) BadState(env, "window must be an object");
  Napi::Object w = window_value.As<Napi::Object>();
  struct tcp_repair_window window = {
      static_cast<uint32_t>(Field(env, w, "sndWl1", 0, 4294967295.0)), static_cast<uint32_t>(Field(env, w, "sndWnd", 0, 4294967295.0)),
      static_cast<uint32_t>(Field(env, w, "maxWindow", 0, 4294967295.0)), static_cast<uint32_t>(Field(env, w, "rcvWnd", 0, 4294967295.0)),
      static_cast<uint32_t>(Field(env, w, "rcvWup", 0, 4294967295.0))};
  // Copies: the JS buffers must not be touched while the kernel calls below run (they do not run JS, but be plain).
  std::vector<uint8_t> in(recv_queue.data, recv_queue.data + recv_queue.length);
  std::vector<uint8_t> out(send_queue.data, send_queue.data + send_queue.length);

  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) throw SystemError(env, errno, "socket");
  try {
    // Repair mode first: bind then skips the in-use check (the listener's port), connect sends no SYN.
    SetInt(env, fd, TCP_REPAIR, TCP_REPAIR_ON, "setsockopt(TCP_REPAIR)");
    if (bind(fd, reinterpret_cast<sockaddr*>(&local.storage), local.length) < 0) {
      throw SystemError(env, errno, "bind", errno == EADDRNOTAVAIL ? "the connection's local address is not on this network namespace's interfaces" : "");
    }
    // Each queue starts where its bytes start; refilling them advances the kernel's numbers to the ends.
    SetInt(env, fd, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "setsockopt(TCP_REPAIR_QUEUE)");
    SetInt(env, fd, TCP_QUEUE_SEQ, static_cast<int>(recv_end - static_cast<uint32_t>(in.size())), "setsockopt(TCP_QUEUE_SEQ)");
    SetInt(env, fd, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "setsockopt(TCP_REPAIR_QUEUE)");
    SetInt(env, fd, TCP_QUEUE_SEQ, static_cast<int>(send_end - static_cast<uint32_t>(out.size())), "setsockopt(TCP_QUEUE_SEQ)");
    SetInt(env, fd, TCP_REPAIR_QUEUE, TCP_NO_QUEUE, "setsockopt(TCP_REPAIR_QUEUE)");
    if (connect(fd, reinterpret_cast<sockaddr*>(&remote.storage), remote.length) < 0) {
      throw SystemError(env, errno, "connect", errno == EADDRNOTAVAIL ? "the old socket still holds this 4-tuple: close it first" : "");
    }
    struct tcp_repair_opt opts[4];
    int count = 0;
    if (Flag(state, "sack")) opts[count++] = {kOptSackPermitted, 0};
    if (wscale) opts[count++] = {kOptWindow, send_wscale | (recv_wscale << 16)};
    if (timestamps) opts[count++] = {kOptTimestamp, 0};
    opts[count++] = {kOptMaxSeg, static_cast<uint32_t>(mss)};
    if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts, count * sizeof(opts[0])) < 0) ThrowSockopt(env, errno, "setsockopt(TCP_REPAIR_OPTIONS)");
    if (timestamps) SetInt(env, fd, TCP_TIMESTAMP, static_cast<int>(timestamp), "setsockopt(TCP_TIMESTAMP)");
    EnsureBuffer(env, fd, SO_RCVBUF, SO_RCVBUFFORCE, in.size(), "setsockopt(SO_RCVBUFFORCE)");
    EnsureBuffer(env, fd, SO_SNDBUF, SO_SNDBUFFORCE, out.size(), "setsockopt(SO_SNDBUFFORCE)");
    SetInt(env, fd, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "setsockopt(TCP_REPAIR_QUEUE)");
    FillQueue(env, fd, in.data(), in.size(), "send (receive queue)");
    // Sent but unacknowledged: back in the queue as sent (the first RTO retransmits them).
    SetInt(env, fd, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "setsockopt(TCP_REPAIR_QUEUE)");
    FillQueue(env, fd, out.data(), out.size() - unsent, "send (send queue)");
    SetInt(env, fd, TCP_REPAIR_QUEUE, TCP_NO_QUEUE, "setsockopt(TCP_REPAIR_QUEUE)");
    if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &window, sizeof(window)) < 0) ThrowSockopt(env, errno, "setsockopt(TCP_REPAIR_WINDOW)");
    // Off: the kernel sends a window probe, the peer's ACK tells this side where it stands.
    SetInt(env, fd, TCP_REPAIR, TCP_REPAIR_OFF, "setsockopt(TCP_REPAIR)");
    SendUnsent(env, fd, out.data() + (out.size() - unsent), unsent);
  } catch (...) {
    close(fd);  // in repair mode: nothing reaches the peer
    throw;
  }
  return Napi::Number::New(env, fd);
}

// tcpRepairSet(fd, on): repair mode on or off by hand (off: a dumped socket goes on).
Napi::Value TcpRepairSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  bool on = info.Length() > 1 && info[1].ToBoolean().Value();
  SetInt(env, fd, TCP_REPAIR, on ? TCP_REPAIR_ON : TCP_REPAIR_OFF, "setsockopt(TCP_REPAIR)");
  return env.Undefined();
}

}  // namespace fdlab
