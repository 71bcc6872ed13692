// The views format times in the runtime's zone (format.ts's formatters are made when it loads): imported
// first by the tests that read times, so that 09:00 UTC reads 09:00:00 AM on any machine.
process.env.TZ = "UTC";
