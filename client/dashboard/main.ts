/** Placeholder job view: polls the public job summary (the full dashboard is its own issue). */
const jobId = new URLSearchParams(location.search).get('job');
const out = document.getElementById('summary')!;
async function poll() {
  if (!jobId) {
    out.textContent = 'open with ?job=ID';
    return;
  }
  const r = await fetch(`/api/jobs/${encodeURIComponent(jobId)}`);
  out.textContent = JSON.stringify(await r.json(), null, 2);
  setTimeout(poll, 2000);
}
void poll();
