package readapi

// Enrollment-token Secrets, as users create them for the sidecars (docs/agents.md): labelled,
// in a namespace the sidecars watch, the token under its key. An agent that presents the token
// enrolls into the Secret's namespace.
const (
	// LabelEnrollmentToken marks a Secret as holding an enrollment token.
	LabelEnrollmentToken = "fleet.ampora.io/enrollment-token"
	// TokenKey is the Secret data key that holds the token.
	TokenKey = "token"
)
