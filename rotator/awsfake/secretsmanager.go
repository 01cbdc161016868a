package awsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// secretsManager answers one Secrets Manager JSON 1.1 action; the lock is
// held. Staging labels follow the AWS Secrets Manager API reference: a
// label is on at most one version; moving AWSCURRENT off a version puts
// AWSPREVIOUS on it (PutSecretValue, UpdateSecretVersionStage).
func (f *Fake) secretsManager(action string, in map[string]any) reply {
	str := func(k string) string { s, _ := in[k].(string); return s }
	if action == "CreateSecret" {
		return f.createSecret(str("Name"), str("SecretString"), str("ClientRequestToken"), in["Tags"])
	}
	s := f.findSecret(str("SecretId"))
	if s == nil {
		return errReply(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	}
	switch action {
	case "DescribeSecret":
		stages := map[string][]string{}
		for id, v := range s.versions {
			if len(v.stages) > 0 {
				stages[id] = v.stages
			}
		}
		return jsonReply(map[string]any{"ARN": s.arn, "Name": s.name, "CreatedDate": epoch(s.created), "VersionIdsToStages": stages})
	case "GetSecretValue":
		id := str("VersionId")
		if id == "" {
			stage := str("VersionStage")
			if stage == "" {
				stage = stageCurrent
			}
			id = withStage(s, stage)
		}
		v := s.versions[id]
		if v == nil {
			return errReply(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for the version or staging label.")
		}
		return jsonReply(map[string]any{"ARN": s.arn, "Name": s.name, "VersionId": id, "SecretString": v.value, "VersionStages": v.stages, "CreatedDate": epoch(v.created)})
	case "PutSecretValue":
		token := str("ClientRequestToken")
		if rep, ok := checkToken(token); !ok {
			return rep
		}
		value := str("SecretString")
		if v := s.versions[token]; v != nil {
			if v.value != value {
				return errReply(http.StatusBadRequest, "ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
			}
			return jsonReply(map[string]any{"ARN": s.arn, "Name": s.name, "VersionId": token, "VersionStages": v.stages})
		}
		stages := []string{stageCurrent}
		if raw, ok := in["VersionStages"].([]any); ok {
			stages = nil
			for _, x := range raw {
				if st, ok := x.(string); ok {
					stages = append(stages, st)
				}
			}
		}
		s.versions[token] = &secretVersion{value: value, created: f.o.Now()}
		for _, st := range stages {
			moveStage(s, st, token)
		}
		return jsonReply(map[string]any{"ARN": s.arn, "Name": s.name, "VersionId": token, "VersionStages": s.versions[token].stages})
	case "UpdateSecretVersionStage":
		stage, to, from := str("VersionStage"), str("MoveToVersionId"), str("RemoveFromVersionId")
		holder := withStage(s, stage)
		if from != "" && holder != from {
			return errReply(http.StatusBadRequest, "InvalidParameterException", fmt.Sprintf("The staging label %s is not attached to version %s.", stage, from))
		}
		if to != "" {
			if s.versions[to] == nil {
				return errReply(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret version.")
			}
			if holder != "" && holder != to && from != holder {
				return errReply(http.StatusBadRequest, "InvalidParameterException", fmt.Sprintf(
					"The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", stage, holder))
			}
			moveStage(s, stage, to)
		} else if from != "" {
			if stage == stageCurrent {
				return errReply(http.StatusBadRequest, "InvalidParameterException", "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.")
			}
			v := s.versions[from]
			v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == stage })
		}
		return jsonReply(map[string]any{"ARN": s.arn, "Name": s.name})
	}
	return errReply(http.StatusBadRequest, "UnknownOperationException", "unknown operation "+action)
}

func (f *Fake) createSecret(name, value, token string, tags any) reply {
	if name == "" {
		return errReply(http.StatusBadRequest, "InvalidParameterException", "Name is required")
	}
	if f.secrets[name] != nil {
		return errReply(http.StatusBadRequest, "ResourceExistsException", "The operation failed because the secret "+name+" already exists.")
	}
	s := &secret{name: name, arn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", f.o.Region, f.o.AccountID, name),
		created: f.o.Now(), versions: map[string]*secretVersion{}, tags: map[string]string{}}
	if list, ok := tags.([]any); ok {
		for _, t := range list {
			if m, ok := t.(map[string]any); ok {
				k, _ := m["Key"].(string)
				v, _ := m["Value"].(string)
				s.tags[k] = v
			}
		}
	}
	out := map[string]any{"ARN": s.arn, "Name": name}
	if value != "" {
		if token == "" {
			token = fmt.Sprintf("%08x-0000-4000-8000-%012x", f.rng.Uint32(), f.rng.Uint64()&0xffffffffffff)
		}
		if rep, ok := checkToken(token); !ok {
			return rep
		}
		s.versions[token] = &secretVersion{value: value, created: f.o.Now(), stages: []string{stageCurrent}}
		s.current = append(s.current, value)
		out["VersionId"] = token
	}
	f.secrets[name] = s
	return jsonReply(out)
}

// checkToken applies ClientRequestToken's length constraint (32–64).
func checkToken(token string) (reply, bool) {
	if len(token) < 32 || len(token) > 64 {
		return errReply(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64"), false
	}
	return reply{}, true
}

func (f *Fake) findSecret(id string) *secret {
	if s := f.secrets[id]; s != nil {
		return s
	}
	for _, s := range f.secrets {
		if s.arn == id {
			return s
		}
	}
	return nil
}

func withStage(s *secret, stage string) string {
	for id, v := range s.versions {
		if slices.Contains(v.stages, stage) {
			return id
		}
	}
	return ""
}

// moveStage attaches stage to version to, taking it off any other; a
// version losing AWSCURRENT gets AWSPREVIOUS.
func moveStage(s *secret, stage, to string) {
	from := withStage(s, stage)
	if from == to {
		return
	}
	if from != "" {
		v := s.versions[from]
		v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == stage })
	}
	s.versions[to].stages = append(s.versions[to].stages, stage)
	if stage == stageCurrent {
		s.current = append(s.current, s.versions[to].value)
		if from != "" {
			moveStage(s, stagePrevious, from)
		}
	}
}

func jsonReply(v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		return errReply(http.StatusInternalServerError, "InternalServiceError", err.Error())
	}
	return reply{body: string(b)}
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
