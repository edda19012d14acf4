// Public face of @tsmtpd/config: the configuration model, and (soon) the smtpd.conf loader.
export * from './model.js';
