-- Argo CD health check for kube-workflows.dev/v1alpha1 CronWorkflowRun.
--
-- Reads the Ready condition the operator writes (operator/kube_workflows/controller/schedule.py):
--   False, reason InvalidSpec   the schedule, time zone or run template is wrong: nothing starts (Degraded)
--   True, reason Suspended      spec.suspend: no new runs (Suspended)
--   True, reason Scheduled      the message names the next run's time (Healthy)
-- Until the operator has read the current generation it is Progressing. The runs a cron creates are
-- WorkflowRuns with their own health; a failed run does not make its schedule unhealthy.
--
-- Written for Argo CD's default sandbox: only the base and table libraries.
local hs = {}
local status = obj.status or {}
local ready = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end
local generation = (obj.metadata or {}).generation
if ready == nil or (generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation)) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to read the schedule"
  return hs
end
local message = ready.message or ""
if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = (ready.reason or "NotReady") .. ": " .. message
  return hs
end
if ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = "Suspended (spec.suspend): no new runs; set it to false to schedule again"
  return hs
end
hs.status = "Healthy"
hs.message = "Scheduled: " .. message
return hs
