package awsfake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sts answers GetCallerIdentity for the key that signed the request; the
// lock is held.
func (f *Fake) sts(r *http.Request, body []byte, action string) reply {
	if action != "GetCallerIdentity" {
		return errReply(http.StatusBadRequest, "InvalidAction", "Could not find operation "+action+" for version 2011-06-15")
	}
	sig, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return errReply(http.StatusBadRequest, "IncompleteSignature", err.Error())
	}
	invalid := errReply(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	k := f.keys[sig.keyID]
	if k == nil || !k.Active {
		return invalid
	}
	now := f.o.Now()
	// IAM is eventually consistent: a new key is refused for a while.
	if now.Before(k.Created.Add(f.o.NewKeyDelay)) {
		return invalid
	}
	if err := verifySignature(r, body, sig, k.ID, k.Secret); err != nil {
		return errReply(http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	k.LastUsed, k.Service = now.UTC(), "sts"
	return reply{body: fmt.Sprintf(`<Arn>%s</Arn><UserId>AIDA%016X</UserId><Account>%s</Account>`, xmlText(f.userARN(f.users[k.User])), hash(k.User), f.o.AccountID)}
}

// sigV4 is the parsed Authorization header of a SigV4-signed request.
type sigV4 struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
// SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (sigV4, error) {
	var s sigV4
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return s, errors.New("authorization header is not AWS4-HMAC-SHA256")
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 5 {
				return s, fmt.Errorf("credential scope %q", v)
			}
			s.keyID, s.date, s.region, s.service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			s.signedHeaders = strings.Split(v, ";")
		case "Signature":
			s.signature = v
		}
	}
	if s.keyID == "" || s.signature == "" || len(s.signedHeaders) == 0 {
		return s, errors.New("authorization header lacks Credential, SignedHeaders or Signature")
	}
	return s, nil
}

// verifySignature signs a copy of the request (the signed headers, the
// body) with the key's secret and compares the signatures.
func verifySignature(r *http.Request, body []byte, sig sigV4, keyID, secret string) error {
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Host = r.Host
	for _, h := range sig.signedHeaders {
		if h == "host" || h == "content-length" {
			continue
		}
		req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, req, hash, sig.service, sig.region, at); err != nil {
		return err
	}
	want, err := parseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if want.signature != sig.signature {
		return errors.New("signature mismatch")
	}
	return nil
}
