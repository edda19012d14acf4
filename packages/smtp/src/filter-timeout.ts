// The default longest wait for one filter answer (SMTPD_FILTER_TIMEOUT overrides it), shared by
// the actor's start and its reload.
export const FILTER_TIMEOUT_MS = 60_000;
