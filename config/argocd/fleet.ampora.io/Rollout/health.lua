-- Argo CD health of an Ampora Rollout, from its kstatus conditions and phase.
local hs = {}
if obj.status == nil or obj.status.observedGeneration == nil or obj.metadata.generation == nil
    or obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the rollout engine to observe the latest spec"
  return hs
end
local function condition(t)
  if obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == t then
        return c
      end
    end
  end
  return nil
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
  return hs
end
local ready = condition("Ready")
if ready ~= nil and ready.reason == "AwaitingApproval" then
  hs.status = "Suspended"
  hs.message = obj.status.message or ready.message or "Waiting for approval"
  return hs
end
if obj.status.phase == "Paused" then
  hs.status = "Suspended"
  hs.message = obj.status.message or "Paused"
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Completed"
  return hs
end
hs.status = "Progressing"
hs.message = obj.status.message or "Rolling out"
return hs
