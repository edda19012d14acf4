// Public face of @tsmtpd/mta: where its worker lives.
export const workerUrl = new URL('./worker.js', import.meta.url);
