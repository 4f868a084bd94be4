// DSSE (Dead Simple Signing Envelope, v1): the pre-authentication encoding
// that is what is actually signed, and the envelope that carries the payload
// and its signatures. Signing the PAE instead of the raw payload is what stops
// a signature over one payload type being replayed as another.
package signing

import (
	"fmt"
	"strconv"
)

// InTotoPayloadType is the DSSE payload type of an in-toto statement.
const InTotoPayloadType = "application/vnd.in-toto+json"

// Envelope is a DSSE envelope as the Sigstore bundle's dsseEnvelope field
// holds it. Payload and Sig are raw bytes; encoding/json writes them as
// standard base64, which is what protobuf JSON expects.
type Envelope struct {
	Payload     []byte      `json:"payload"`
	PayloadType string      `json:"payloadType"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature: an ASN.1 DER ECDSA signature over
// SHA-256(PAE(payloadType, payload)).
type Signature struct {
	Sig   []byte `json:"sig"`
	KeyID string `json:"keyid,omitempty"`
}

// PAE is the DSSE v1 pre-authentication encoding:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal.
func PAE(payloadType string, payload []byte) []byte {
	out := fmt.Appendf(nil, "DSSEv1 %s %s %s ", strconv.Itoa(len(payloadType)), payloadType, strconv.Itoa(len(payload)))
	return append(out, payload...)
}
