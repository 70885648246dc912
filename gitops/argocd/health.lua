-- Argo CD health check for kube-workflows.dev/v1alpha1 WorkflowRun.
--
-- Reads what the kube-workflows operator writes (operator/kube_workflows/controller/status.py):
--   status.phase              Pending | Running | Succeeded | Failed
--   status.conditions[]       Succeeded (Unknown -> True/False, with reason and message) and Running
--   status.observedGeneration metadata.generation the operator last acted on
--   status.checkpoint         seq, step, stepsCompleted of the last durable checkpoint
--   status.currentStep        step(s) still running when the last checkpoint was written
--   status.restarts           pods replaced after a crash, kill or loss
-- Not kstatus-shaped (no Ready/Reconciling/Stalled conditions).
--
-- Succeeded and Failed are final: spec.workflow, spec.input and spec.contextFrom are immutable and a
-- finished run's Job never runs again, so an edit of a mutable field (ttlSecondsAfterFinished, template,
-- ...) cannot change the outcome. The observedGeneration check therefore guards only runs that are
-- still pending or running.
--
-- Written for Argo CD's default sandbox (no resource.customizations.useOpenLibs): only the base and
-- table libraries, so no string.* functions; numbers are joined with `..`.
local hs = {}

local function succeededCondition(status)
  if status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Succeeded" then
      return condition
    end
  end
  return nil
end

-- "Reason: message" from a condition or status.error; nil when it has neither.
local function because(source)
  if source == nil then
    return nil
  end
  local reason = source.reason or ""
  local message = source.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if reason ~= "" then
    return reason
  end
  if message ~= "" then
    return message
  end
  return nil
end

local status = obj.status or {}
local phase = status.phase or ""
local succeeded = succeededCondition(status)

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = because(succeeded) or "Succeeded"
  return hs
end

if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = because(succeeded) or because(status.error) or "Failed"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

if phase == "" or phase == "Pending" then
  hs.status = "Progressing"
  local contextFrom = nil
  if obj.spec ~= nil then
    contextFrom = obj.spec.contextFrom
  end
  if phase == "Pending" and contextFrom ~= nil and contextFrom ~= "" and status.jobName == nil then
    hs.message = "Waiting for WorkflowRun " .. contextFrom .. " (spec.contextFrom) to succeed"
  else
    hs.message = "Waiting for the runner pod"
  end
  return hs
end

if phase == "Running" then
  local parts = {}
  if succeeded ~= nil and succeeded.reason == "Resuming" then
    parts[#parts + 1] = "Runner pod lost; resuming on a new pod"
  elseif status.currentStep ~= nil and status.currentStep ~= "" then
    parts[#parts + 1] = "Running step " .. status.currentStep
  else
    parts[#parts + 1] = "Running"
  end
  local checkpoint = status.checkpoint
  if checkpoint ~= nil and checkpoint.seq ~= nil then
    local text = "checkpoint " .. checkpoint.seq
    if checkpoint.step ~= nil then
      text = text .. " after step " .. checkpoint.step
    end
    if checkpoint.stepsCompleted ~= nil then
      local noun = " steps completed)"
      if checkpoint.stepsCompleted == 1 then
        noun = " step completed)"
      end
      text = text .. " (" .. checkpoint.stepsCompleted .. noun
    end
    parts[#parts + 1] = text
  else
    parts[#parts + 1] = "no checkpoint yet"
  end
  if status.restarts ~= nil and status.restarts > 0 then
    parts[#parts + 1] = "restarts: " .. status.restarts
  end
  hs.status = "Progressing"
  hs.message = table.concat(parts, "; ")
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown phase " .. phase
return hs
