// Signature checks with gpgv against a distribution's keyring.
#pragma once

#include "unique-fd.h"

#include <memory>
#include <string>
#include <sys/types.h>

namespace bred {

// What gpgv printed with --status-fd on its output: the words for a person,
// and the fingerprint of the key a good signature was made with (the primary
// key's, when gpgv names it), empty when there is no good signature.
struct GpgvOutput {
    std::string messages;
    std::string signingKey;
};
GpgvOutput parseGpgvOutput(const std::string& output);

// Verifies `signature` (detached over `data`, or clear-signed when `data` is
// empty) with `keyring` and returns the signing key's fingerprint. Throws
// Error(VerificationFailed) with gpgv's words on a bad signature,
// Error(NotSupported) when gpgv is missing.
std::string verifySignature(const std::string& keyring, const std::string& signature, const std::string& data);

// Verifies a clear-signed text; `text` is only what the signature covers, so
// unsigned lines around it can never be taken for signed ones.
struct ClearSignedText {
    std::string text;
    std::string signingKey;
};
ClearSignedText verifyClearSigned(const std::string& keyring, const std::string& clearSigned);

// A detached signature over data that streams past (an archive being
// downloaded): feed() the data, then finish() returns or throws as verifySignature does.
class StreamingSignatureCheck {
public:
    StreamingSignatureCheck(const std::string& keyring, const std::string& signature);
    ~StreamingSignatureCheck();
    StreamingSignatureCheck(const StreamingSignatureCheck&) = delete;
    StreamingSignatureCheck& operator=(const StreamingSignatureCheck&) = delete;

    void feed(const char* data, std::size_t size);
    std::string finish();

private:
    struct Process;
    std::unique_ptr<Process> process_;
    std::string keyring_;
};

} // namespace bred
