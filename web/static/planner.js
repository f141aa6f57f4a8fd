// Progress page of a plan being solved: polls the job's JSON and opens the plan when done.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box) { return; }
  var jobUrl = box.getAttribute("data-job-url");
  var status = document.getElementById("job-status");
  var bar = document.getElementById("progress-bar");
  var track = document.getElementById("progress");
  var elapsed = document.getElementById("elapsed");
  var errorBox = document.getElementById("job-error");
  var retry = document.getElementById("job-retry");
  var failures = 0;

  // Reloading this page shows the same job instead of sending the form again.
  if (window.history && window.history.replaceState) {
    window.history.replaceState(null, "", box.getAttribute("data-new-url"));
  }

  function say(key) {
    var text = status.getAttribute("data-" + key);
    if (text) { status.textContent = text; }
  }

  function show(job) {
    var share = job.time_limit_s > 0 ? job.elapsed_s / job.time_limit_s : 0;
    // The bar never reads 100 % before the plan is stored: scoring and saving take time too.
    var percent = job.state === "done" ? 100 : Math.min(97, Math.round(share * 100));
    bar.style.width = percent + "%";
    track.setAttribute("aria-valuenow", String(percent));
    elapsed.textContent = Math.round(job.elapsed_s);
    say(job.state === "running" ? job.phase : job.state);
  }

  function poll() {
    fetch(jobUrl, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (result) {
        failures = 0;
        var job = result.body;
        if (!result.ok) {
          errorBox.textContent = job.error || String(job.status);
          errorBox.hidden = false;
          retry.hidden = false;
          return;
        }
        show(job);
        if (job.state === "done" && job.plan_url) {
          window.location.assign(job.plan_url);
        } else if (job.state === "failed" || job.state === "cancelled") {
          if (job.error) {
            errorBox.textContent = job.error;
            errorBox.hidden = false;
          }
          retry.hidden = false;
          var cancelForm = document.getElementById("cancel-form");
          if (cancelForm) { cancelForm.hidden = true; }
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        failures += 1;
        say("lost");
        window.setTimeout(poll, Math.min(10000, 1000 * failures));
      });
  }

  poll();
})();
