// Signature checks with gpgv against a distribution's keyring.
#pragma once

#include "unique-fd.h"

#include <memory>
#include <string>
#include <sys/types.h>

namespace bred {

// Verifies `signature` (detached over `data`, or clear-signed when `data` is
// empty) with `keyring`. Throws Error(VerificationFailed) with gpgv's words on
// a bad signature, Error(NotSupported) when gpgv is missing.
void verifySignature(const std::string& keyring, const std::string& signature, const std::string& data);

// Verifies a clear-signed text and returns only what the signature covers, so
// unsigned lines around it can never be taken for signed ones.
std::string verifyClearSigned(const std::string& keyring, const std::string& clearSigned);

// A detached signature over data that streams past (an archive being
// downloaded): feed() the data, then finish() throws as verifySignature does.
class StreamingSignatureCheck {
public:
    StreamingSignatureCheck(const std::string& keyring, const std::string& signature);
    ~StreamingSignatureCheck();
    StreamingSignatureCheck(const StreamingSignatureCheck&) = delete;
    StreamingSignatureCheck& operator=(const StreamingSignatureCheck&) = delete;

    void feed(const char* data, std::size_t size);
    void finish();

private:
    struct Process;
    std::unique_ptr<Process> process_;
    std::string keyring_;
};

} // namespace bred
