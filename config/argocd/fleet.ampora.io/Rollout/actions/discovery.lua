-- Actions Argo CD offers on an Ampora Rollout. They annotate the Rollout; the engine carries
-- them out and removes the annotation, so the spec never drifts from Git.
local actions = {}
local phase = ""
if obj.status ~= nil and obj.status.phase ~= nil then
  phase = obj.status.phase
end
local final = phase == "Completed" or phase == "RolledBack" or phase == "Aborted"
local gatePaused = phase == "Paused" and obj.status.pause ~= nil and obj.status.pause.reason ~= "Manual"
actions["resume"] = {["disabled"] = not gatePaused}
actions["abort"] = {["disabled"] = final or phase == ""}
actions["rollback"] = {["disabled"] = phase == "" or phase == "RolledBack" or phase == "Pending" or phase == "Blocked"}
actions["retry"] = {["disabled"] = final or obj.status == nil or obj.status.currentBatch == nil}
return actions
