-- Ask the Ampora engine to rollback this Rollout.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["fleet.ampora.io/action"] = "rollback"
obj.metadata.annotations["fleet.ampora.io/action-requested-by"] = "argocd"
return obj
