// Errors shaped like Node's own system errors (code, errno, syscall), so a
// caller can switch on err.code whether the failure came from Node or from us.
#pragma once
#include <napi.h>
#include <cstdint>
#include <string>

namespace fdlab {

// A failed syscall: message "<syscall> <CODE>: <strerror>[ (<hint>)]",
// err.code = "EBADF", err.errno = -9 (negative, as Node does), err.syscall.
Napi::Error SystemError(Napi::Env env, int err, const char* syscall,
                        const std::string& hint = "");

// A failure that is not one errno: err.code is one of fdlab's ERR_* codes.
Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message);
Napi::Error CodedRangeError(Napi::Env env, const char* code, const std::string& message);
Napi::Error CodedTypeError(Napi::Env env, const char* code, const std::string& message);

// Argument readers that throw ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE like Node.
int FdArg(const Napi::CallbackInfo& info, size_t index, const char* name);
int IntArg(const Napi::CallbackInfo& info, size_t index, const char* name, int min, int max);

// A typed array argument, as a pointer to its first element (byte offset
// applied) and its length in elements. Only valid until JS runs again.
template <typename T>
struct ArrayArg {
  T* data;
  size_t length;
};
// A Buffer or any Uint8Array.
ArrayArg<uint8_t> BytesArg(const Napi::CallbackInfo& info, size_t index, const char* name);
ArrayArg<int32_t> Int32ArrayArg(const Napi::CallbackInfo& info, size_t index, const char* name);

}  // namespace fdlab
