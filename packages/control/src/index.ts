// Public face of @tsmtpd/control: where its worker lives.
export const workerUrl = new URL('./worker.js', import.meta.url);
