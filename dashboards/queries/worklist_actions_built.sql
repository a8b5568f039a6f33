-- The ids of the collectors' actions already in the warehouse (fct_collection_actions) for these
-- customers: the worklist lists the ops store's other actions as saved since the last run.
select action_id
from marts.fct_collection_actions
where list_contains($customer_ids, customer_id)
