package configs

import _ "embed"

// Example is iamd.example.yaml: every key with its default and a comment.
//
//go:embed iamd.example.yaml
var Example []byte

// PolicyAnalysis is the IAM policy the daemon needs to read the account
// and the trail (iam-policy-analysis.json); PolicyRotation adds what key
// rotation with Secrets Manager delivery needs (iam-policy-rotation.json).
//
//go:embed iam-policy-analysis.json
var PolicyAnalysis []byte

//go:embed iam-policy-rotation.json
var PolicyRotation []byte
