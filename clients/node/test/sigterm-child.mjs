// A worker that counts, says so, and waits to be killed (client.test.js).
import { Client } from "job-progress";

const client = new Client({ interval: 3_600_000 }); // the timer sends nothing: only the flush on SIGTERM can
const job = await client.job(process.argv[2], { total: 2000 });
job.progress(1234, 5);
console.log("counted");
setTimeout(() => {}, 60_000);
