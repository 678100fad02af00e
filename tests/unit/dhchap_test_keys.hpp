// DH-HMAC-CHAP secrets for the tests, as `nvme gen-dhchap-key` writes them;
// their keys are known (dhchap_test checks them byte for byte).
#pragma once

#include <string_view>

namespace dhchap_test_keys {

/// Key 00 01 .. 1f, transformed with SHA-256.
inline constexpr std::string_view sha256 =
    "DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:";
/// Key 100 .. 147 (48 bytes), transformed with SHA-384.
inline constexpr std::string_view sha384 =
    "DHHC-1:02:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTvGwQfg==:";
/// Key (7 * i) & ff for i < 64, transformed with SHA-512.
inline constexpr std::string_view sha512 =
    "DHHC-1:03:AAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tng5+71/AMKERgfJi00O0JJUFdeZWxzeoGIj5adpKuy"
    "udSnJNM=:";
/// The SHA-256 one's key used as it is (00).
inline constexpr std::string_view plain =
    "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:";

} // namespace dhchap_test_keys
