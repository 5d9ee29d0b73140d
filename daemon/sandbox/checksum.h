// Hashing on the fly, and the distributions' checksum file formats.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bred {

// The format of a distribution's published checksum file.
enum class ChecksumFormat {
    Sha256Sums, // "<hex> *<file>" or "<hex>  <file>"
    Sha512Sums,
    Md5Sums,
    FedoraChecksum, // "SHA256 (<file>) = <hex>", possibly clear-signed
};

enum class HashAlgorithm { Sha256, Sha512, Md5 };

class Hasher {
public:
    explicit Hasher(HashAlgorithm algorithm);
    ~Hasher();
    Hasher(const Hasher&) = delete;
    Hasher& operator=(const Hasher&) = delete;

    void update(const void* data, std::size_t size);
    // Lower-case hex digest; the hasher cannot be used afterwards.
    std::string finish();

private:
    struct State;
    std::unique_ptr<State> state_;
};

struct ExpectedChecksum {
    HashAlgorithm algorithm;
    std::string hex; // lower case
};

// Finds `fileName`'s checksum in a checksum file of `format`; nullopt when the
// file is not listed.
std::optional<ExpectedChecksum> findChecksum(ChecksumFormat format, std::string_view text, std::string_view fileName);

// True for a hex string of the algorithm's digest length.
bool isHexDigest(std::string_view hex, HashAlgorithm algorithm);

} // namespace bred
