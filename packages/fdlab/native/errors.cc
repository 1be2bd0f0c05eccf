#include "errors.h"

#include <string.h>
#include <uv.h>

namespace fdlab {

Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& hint) {
  // libuv's error names are exactly Node's err.code values ("EBADF", ...).
  const char* code = uv_err_name(-err);
  std::string message = std::string(syscall) + " " + code + ": " + strerror(err);
  if (!hint.empty()) message += " (" + hint + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

template <typename E>
static Napi::Error WithCode(E error, Napi::Env env, const char* code) {
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::Error::New(env, message), env, code);
}

Napi::Error CodedRangeError(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::RangeError::New(env, message), env, code);
}

Napi::Error CodedTypeError(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::TypeError::New(env, message), env, code);
}

int IntArg(const Napi::CallbackInfo& info, size_t index, const char* name, int min, int max) {
  Napi::Env env = info.Env();
  if (info.Length() <= index || !info[index].IsNumber()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         std::string("The \"") + name + "\" argument must be an integer");
  }
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (value != static_cast<double>(static_cast<long long>(value)) || value < min || value > max) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          std::string("The \"") + name + "\" argument must be an integer >= " +
                              std::to_string(min) + " and <= " + std::to_string(max) +
                              ". Received " + info[index].ToString().Utf8Value());
  }
  return static_cast<int>(value);
}

int FdArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  return IntArg(info, index, name, 0, 0x7fffffff);
}

// One napi_get_typedarray_info both checks the type and finds the memory:
// these readers sit on the per-message path.
static void* TypedArrayArg(const Napi::CallbackInfo& info, size_t index, const char* name,
                           napi_typedarray_type wanted, const char* expected, size_t* length) {
  napi_typedarray_type type;
  void* data = nullptr;
  napi_status status = info.Length() > index
                           ? napi_get_typedarray_info(info.Env(), info[index], &type, length, &data, nullptr, nullptr)
                           : napi_invalid_arg;
  if (status != napi_ok || type != wanted) {
    throw CodedTypeError(info.Env(), "ERR_INVALID_ARG_TYPE",
                         std::string("The \"") + name + "\" argument must be " + expected);
  }
  return data;
}

ArrayArg<uint8_t> BytesArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  size_t length = 0;
  void* data = TypedArrayArg(info, index, name, napi_uint8_array, "a Buffer or Uint8Array", &length);
  return {static_cast<uint8_t*>(data), length};
}

ArrayArg<int32_t> Int32ArrayArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  size_t length = 0;
  void* data = TypedArrayArg(info, index, name, napi_int32_array, "an Int32Array", &length);
  return {static_cast<int32_t*>(data), length};
}

}  // namespace fdlab
