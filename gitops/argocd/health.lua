-- Argo CD health check for kube-workflows.dev/v1alpha1 WorkflowRun.
--
-- Reads what the kube-workflows operator writes (operator/kube_workflows/controller/status.py):
--   status.phase              Pending | Queued | Running | Waiting | Suspended | Succeeded | Failed | Cancelled
--   status.conditions[]       Succeeded (Unknown -> True/False, with reason and message), Running, Waiting,
--                             and kstatus' Ready, Reconciling and Stalled (for Flux; not read here)
--   status.observedGeneration metadata.generation the operator last acted on
--   status.checkpoint         seq, step, stepsCompleted of the last durable checkpoint
--   status.currentStep        step(s) still running when the last checkpoint was written
--   status.restarts           pods replaced after a crash, kill or loss
--   status.waiting            while Waiting: requests (the InputRequiredEvents' fields), expects,
--                             eventIndex (the spec.events entry that answers) and error (a rejected answer)
--
-- Succeeded, Failed and Cancelled are final: spec.workflow, spec.input and spec.contextFrom are
-- immutable and a finished run's Job never runs again, so an edit of a mutable field
-- (ttlSecondsAfterFinished, waitTimeoutSeconds, ...) cannot change the outcome. The observedGeneration check
-- therefore guards only runs that are still on their way (an answer appended to spec.events or a
-- changed spec.suspend shows as Progressing until the operator has acted on it).
--
-- Waiting and Suspended map to Argo CD's Suspended: the run holds no pod and goes on only when someone
-- acts (answers it through spec.events, or sets spec.suspend back to false).
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

if phase == "Cancelled" then
  hs.status = "Degraded"
  hs.message = because(succeeded) or "Cancelled"
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
  local source = nil
  if obj.spec ~= nil and type(obj.spec.contextFrom) == "table" then
    source = obj.spec.contextFrom
  end
  if phase == "Pending" and source ~= nil and source.name ~= nil and status.jobName == nil then
    if source.seq ~= nil then
      hs.message = "Waiting for checkpoint " .. source.seq .. " of WorkflowRun " .. source.name .. " (spec.contextFrom)"
    else
      hs.message = "Waiting for WorkflowRun " .. source.name .. " (spec.contextFrom) to succeed"
    end
  else
    hs.message = "Waiting for the runner pod"
  end
  return hs
end

-- The question a waiting run asks: the first request's prefix (or prompt, message, question, text),
-- else its other fields as `key: value`, sorted (table iteration order is not defined).
local function prompt(waiting)
  local request = nil
  if waiting.requests ~= nil then
    request = waiting.requests[1]
  end
  if request == nil then
    return nil
  end
  for _, key in ipairs({"prefix", "prompt", "message", "question", "text"}) do
    if type(request[key]) == "string" and request[key] ~= "" then
      return request[key]
    end
  end
  local keys = {}
  for key, value in pairs(request) do
    if key ~= "type" and (type(value) == "string" or type(value) == "number" or type(value) == "boolean") then
      keys[#keys + 1] = key
    end
  end
  table.sort(keys)
  local fields = {}
  for _, key in ipairs(keys) do
    fields[#fields + 1] = key .. ": " .. tostring(request[key])
  end
  if #fields == 0 then
    return nil
  end
  return table.concat(fields, ", ")
end

-- "NAME -n NAMESPACE", for the kwf commands in messages.
local function runRef()
  local metadata = obj.metadata or {}
  local ref = metadata.name or "RUN"
  if metadata.namespace ~= nil then
    ref = ref .. " -n " .. metadata.namespace
  end
  return ref
end

-- `kwf send-event NAME -n NS --data ...`: the answer's fields are known for HumanResponseEvent only.
local function answerCommand(waiting)
  local command = "kwf send-event " .. runRef()
  local expects = waiting.expects or {}
  local human = #expects == 0 or (#expects == 1 and (expects[1] == "workflows.events.HumanResponseEvent"
    or expects[1] == "workflows.events:HumanResponseEvent"))
  if human then
    return command .. " --data '{\"response\": \"...\"}'"
  end
  if #expects == 1 then
    return command .. " --data '{...}' (an event of " .. expects[1] .. ")"
  end
  return command .. " --type MODULE:CLASS --data '{...}' (one of " .. table.concat(expects, ", ") .. ")"
end

if phase == "Waiting" then
  local waiting = status.waiting or {}
  local parts = {}
  local index = ""
  if waiting.eventIndex ~= nil then
    index = " (spec.events[" .. waiting.eventIndex .. "])"
  end
  parts[#parts + 1] = "Waiting for input" .. index .. ": " .. (prompt(waiting) or "no prompt")
  -- A rejected answer is retried at the same index on the next edit: it has to be replaced, not followed.
  local sent = {}
  if obj.spec ~= nil and obj.spec.events ~= nil then
    sent = obj.spec.events
  end
  local replace = waiting.error ~= nil and waiting.eventIndex ~= nil and #sent > waiting.eventIndex
    and waiting.rejectedGeneration == (obj.metadata or {}).generation
  if waiting.error ~= nil and waiting.error ~= "" then
    parts[#parts + 1] = "answer not accepted: " .. waiting.error
  end
  if replace then
    parts[#parts + 1] = "answer by replacing spec.events[" .. waiting.eventIndex .. "], e.g. " .. answerCommand(waiting)
  else
    parts[#parts + 1] = "answer by adding an event to spec.events, e.g. " .. answerCommand(waiting)
  end
  hs.status = "Suspended"
  hs.message = table.concat(parts, "; ")
  return hs
end

if phase == "Suspended" then
  local checkpoint = status.checkpoint
  local at = " before its first checkpoint"
  if checkpoint ~= nil and checkpoint.seq ~= nil then
    at = " at checkpoint " .. checkpoint.seq
  end
  hs.status = "Suspended"
  hs.message = "Suspended" .. at .. " (spec.suspend); set it to false to resume: kwf resume " .. runRef()
  return hs
end

if phase == "Queued" then
  -- Kueue holds its Job (quota, or preempted by a higher priority): progressing, nothing to do by hand.
  local text = "Queued"
  if succeeded ~= nil and succeeded.message ~= nil and succeeded.message ~= "" then
    text = "Queued: " .. succeeded.message
  end
  hs.status = "Progressing"
  hs.message = text
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
