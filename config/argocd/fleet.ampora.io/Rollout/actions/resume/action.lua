-- Ask the Ampora engine to resume this Rollout.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["fleet.ampora.io/action"] = "resume"
obj.metadata.annotations["fleet.ampora.io/action-requested-by"] = "argocd"
return obj
