#include "checksum.h"

#include "errors.h"

#include <algorithm>
#include <openssl/evp.h>

namespace bred {
namespace {

std::size_t digestLength(HashAlgorithm algorithm)
{
    switch (algorithm) {
    case HashAlgorithm::Sha256:
        return 32;
    case HashAlgorithm::Sha512:
        return 64;
    case HashAlgorithm::Md5:
        return 16;
    }
    return 0;
}

std::string lower(std::string_view text)
{
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string_view trim(std::string_view text)
{
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
        text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.remove_suffix(1);
    return text;
}

// The last path component, so "./x" and "images/x" match "x".
std::string_view baseName(std::string_view path)
{
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

} // namespace

struct Hasher::State {
    EVP_MD_CTX* context = nullptr;
};

Hasher::Hasher(HashAlgorithm algorithm) : state_(std::make_unique<State>())
{
    const EVP_MD* md = algorithm == HashAlgorithm::Sha256   ? EVP_sha256()
                       : algorithm == HashAlgorithm::Sha512 ? EVP_sha512()
                                                            : EVP_md5();
    state_->context = EVP_MD_CTX_new();
    if (!state_->context || EVP_DigestInit_ex(state_->context, md, nullptr) != 1)
        throw Error(ErrorCode::Failed, "cannot set up hashing (OpenSSL)");
}

Hasher::~Hasher() { EVP_MD_CTX_free(state_->context); }

void Hasher::update(const void* data, std::size_t size) { EVP_DigestUpdate(state_->context, data, size); }

std::string Hasher::finish()
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(state_->context, digest, &length);
    static const char* hexDigits = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
        hex += hexDigits[digest[i] >> 4];
        hex += hexDigits[digest[i] & 0xf];
    }
    return hex;
}

bool isHexDigest(std::string_view hex, HashAlgorithm algorithm)
{
    return hex.size() == digestLength(algorithm) * 2 &&
           std::all_of(hex.begin(), hex.end(), [](unsigned char c) { return std::isxdigit(c); });
}

std::optional<ExpectedChecksum> findChecksum(ChecksumFormat format, std::string_view text, std::string_view fileName)
{
    HashAlgorithm algorithm = format == ChecksumFormat::Sha512Sums ? HashAlgorithm::Sha512
                              : format == ChecksumFormat::Md5Sums  ? HashAlgorithm::Md5
                                                                   : HashAlgorithm::Sha256;
    while (!text.empty()) {
        auto newline = text.find('\n');
        std::string_view line = trim(text.substr(0, newline));
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (line.empty() || line.front() == '#')
            continue;
        if (format == ChecksumFormat::FedoraChecksum) {
            // SHA256 (Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz) = <hex>
            if (!line.starts_with("SHA256 ("))
                continue;
            auto close = line.find(") = ");
            if (close == std::string_view::npos)
                continue;
            auto name = line.substr(8, close - 8);
            auto hex = trim(line.substr(close + 4));
            if (baseName(name) == fileName && isHexDigest(hex, algorithm))
                return ExpectedChecksum{algorithm, lower(hex)};
            continue;
        }
        // "<hex> *<file>" (binary mode) or "<hex>  <file>" (text mode)
        auto space = line.find_first_of(" \t");
        if (space == std::string_view::npos)
            continue;
        auto hex = line.substr(0, space);
        auto name = trim(line.substr(space));
        if (!name.empty() && name.front() == '*')
            name.remove_prefix(1);
        if (baseName(name) == fileName && isHexDigest(hex, algorithm))
            return ExpectedChecksum{algorithm, lower(hex)};
    }
    return std::nullopt;
}

} // namespace bred
